// The real emulator in-process (on its own thread, real TLS on a loopback
// port), its watchlists and request log, and the results the groupwatch
// binary writes (its ndjson sink).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "groupwatch/emulator/server.hpp"
#include "support/harness.hpp"

namespace gw_test {

/// The app an Emulator serves when its options name none.
inline constexpr const char* kKey = "integration-secret-key-0123456789";
inline constexpr std::uint64_t kAppId = 1400000001;

/// The emulator on its own io_context thread, on a chosen port (0 =
/// ephemeral); stop() frees the port so that another one can take it.
class Emulator {
 public:
  explicit Emulator(groupwatch::emulator::Options o, std::uint16_t port = 0);
  ~Emulator();
  Emulator(const Emulator&) = delete;
  Emulator& operator=(const Emulator&) = delete;

  void stop();
  std::uint16_t port() const { return port_; }
  groupwatch::emulator::Server& server() { return *server_; }
  std::string endpoint() const { return "https://127.0.0.1:" + std::to_string(port_); }
  std::string ca_pem() const { return server_->ca_pem(); }
  void write_ca(const std::string& path) const;

 private:
  std::unique_ptr<boost::asio::io_context> io_;
  std::unique_ptr<groupwatch::emulator::Server> server_;
  std::uint16_t port_ = 0;
  std::thread thread_;
  bool stopped_ = false;
};

/// `n` emulator group IDs written one a line to `name` in `dir`.
std::vector<std::string> write_groups(const TempDir& dir, const std::string& name, std::size_t n,
                                      std::uint64_t seed = 1);

/// One request-log line of the emulator.
struct Req {
  double t = 0;  // unix seconds
  std::string group;
  std::int64_t code = 0;
  std::uint64_t conn = 0;  // the emulator's connection number
};
std::vector<Req> parse_request_log(const std::string& path);
/// 2026-11-25T16:40:00.123Z in unix seconds (0 when too short).
double parse_rfc3339(std::string_view s);

/// One parsed NDJSON result line.
struct Line {
  std::string group_id;
  std::int64_t error_code = 0;
  bool has_count = false;
  std::string time;
  std::string group_name;  // "" when null
  std::string app;
};
/// The result lines of an ndjson sink's file; `bad_lines` counts those that do
/// not parse (and a partial last line).
std::vector<Line> parse_ndjson(const std::string& path, std::size_t* bad_lines = nullptr);

}  // namespace gw_test
