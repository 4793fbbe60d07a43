#pragma once
// The ndjson sink's settings (internal to src/sinks/ndjson and its tests).
#include <cstdint>
#include <memory>
#include <string>

#include "groupwatch/config/reader.hpp"
#include "groupwatch/delivery/sink.hpp"

namespace groupwatch::sinks::ndjson {

struct Settings {
  std::string path;            // "-" = stdout; relative paths are under state_dir
  std::uint64_t max_size = 0;  // bytes; 0 = never rotate
  std::uint64_t keep = 5;      // rotated files kept: path.1 .. path.<keep>
  bool fsync = true;           // fdatasync after every batch
};

std::unique_ptr<delivery::SinkSpec> parse(config::MapReader& r);
/// Relative paths are taken under state_dir, like the spool.
std::string resolve_path(const std::string& path, const std::string& state_dir);

}  // namespace groupwatch::sinks::ndjson
