// groupwatch: the command line only; app/ does the work.
#include "groupwatch/app/cli.hpp"

int main(int argc, char** argv) {
  return groupwatch::app::main(argc, argv);
}
