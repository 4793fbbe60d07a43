#pragma once
#include "groupwatch/util/spawn.hpp"

namespace groupwatch::app {
using groupwatch::spawn_logged;
}  // namespace groupwatch::app
