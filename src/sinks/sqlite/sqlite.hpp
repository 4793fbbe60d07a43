#pragma once
// The sqlite sink's settings (internal to src/sinks/sqlite and its tests).
#include <chrono>
#include <memory>
#include <string>

#include "groupwatch/config/reader.hpp"
#include "groupwatch/delivery/sink.hpp"

namespace groupwatch::sinks::sqlite {

struct Settings {
  std::string path;                        // relative paths are under state_dir
  std::chrono::milliseconds retention{0};  // 0 = keep forever
  std::chrono::milliseconds prune_every = std::chrono::hours(1);
};

std::unique_ptr<delivery::SinkSpec> parse(config::MapReader& r);

}  // namespace groupwatch::sinks::sqlite
