#pragma once
namespace groupwatch::emulator {
/// The `groupwatch-emulator` command line. Returns the exit status.
int main(int argc, char** argv);
}  // namespace groupwatch::emulator
