// groupwatch-emulator: the command line only; emulator/ does the work.
#include "groupwatch/emulator/cli.hpp"

int main(int argc, char** argv) {
  return groupwatch::emulator::main(argc, argv);
}
