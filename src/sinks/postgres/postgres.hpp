#pragma once
// The postgres sink's settings (internal to src/sinks/postgres and its tests).
#include <memory>
#include <string>

#include "groupwatch/config/reader.hpp"
#include "groupwatch/delivery/sink.hpp"

namespace groupwatch::sinks::postgres {

struct Settings {
  std::string dsn;  // libpq conninfo or URI; a secret (may hold a password)
  std::string table = "samples";
  std::string schema;  // empty: the search_path's first schema
};

std::unique_ptr<delivery::SinkSpec> parse(config::MapReader& r);

/// `name` as a double-quoted SQL identifier ("a""b" for a"b).
std::string quote_identifier(const std::string& name);

}  // namespace groupwatch::sinks::postgres
