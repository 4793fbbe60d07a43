// Placeholder until the engine lands.
#include "groupwatch/app/cli.hpp"
int groupwatch::app::main(int, char**) { return 0; }
