// Placeholder until the emulator lands.
#include "groupwatch/emulator/cli.hpp"
int groupwatch::emulator::main(int, char**) { return 0; }
