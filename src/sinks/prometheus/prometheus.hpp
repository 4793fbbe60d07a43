#pragma once
// The prometheus sink: serves the latest count of every group on its own
// small /metrics server (its own thread and io_context) for a Prometheus
// server to scrape. Internal to src/sinks/prometheus and its tests.
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "groupwatch/config/group_meta.hpp"
#include "groupwatch/config/reader.hpp"
#include "groupwatch/delivery/sink.hpp"

namespace groupwatch::sinks::prometheus {

struct Settings {
  std::string listen;  // host:port (port 0: ephemeral, for tests)
};

std::unique_ptr<delivery::SinkSpec> parse(config::MapReader& r);

/// The exposition of the series, in the Prometheus text format 0.0.4.
struct Series {
  std::uint64_t online = 0;
  double last_success = 0;    // unix seconds
  config::GroupMetaPtr meta;  // name and labels as of the latest count
};
/// A label name Prometheus accepts: [a-zA-Z_][a-zA-Z0-9_]*, other bytes as '_'.
std::string sanitize_label_name(std::string_view name);
std::string render(const std::map<std::pair<std::string, std::string>, Series>& series);

class PrometheusSink final : public delivery::Sink {
 public:
  /// Binds `listen` and starts serving; throws std::runtime_error when it cannot.
  explicit PrometheusSink(const std::string& listen);
  ~PrometheusSink() override;
  void write(std::span<const delivery::Result> batch) override;
  void forget(const std::string& app, const std::string& group_id) override;
  std::uint16_t port() const;
  /// What /metrics answers right now.
  std::string exposition() const;

  struct Server;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, Series> series_;
  std::unique_ptr<Server> server_;
};

}  // namespace groupwatch::sinks::prometheus
