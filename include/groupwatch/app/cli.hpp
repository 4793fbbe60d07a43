#pragma once
namespace groupwatch::app {
/// The `groupwatch` command line (interface.md). Returns the exit status.
int main(int argc, char** argv);
}  // namespace groupwatch::app
