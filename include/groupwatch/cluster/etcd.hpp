#pragma once
// A small etcd v3 client over etcd's HTTP/JSON gateway (/v3/...), on the
// project's one HTTP client (http::Pool): leases, a create-if-absent put,
// a delete that only removes our own key, and prefix reads. Keys and values
// are base64 in the JSON; this header deals in plain strings.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

namespace groupwatch::cluster {

struct KeyValue {
  std::string key, value;
  std::int64_t lease = 0;
};

/// What one call came to. `ok` false: no endpoint answered (or the answer
/// was not etcd's); `error` says why, naming the endpoints tried.
template <class T>
struct Outcome {
  bool ok = false;
  std::string error;
  T value{};
};

class Etcd {
 public:
  /// `endpoints` as http://HOST:PORT. Each call tries the endpoint that
  /// answered last, then the others in turn, each within `timeout`.
  Etcd(boost::asio::any_io_executor ex, const std::vector<std::string>& endpoints, std::chrono::milliseconds timeout);
  ~Etcd();
  Etcd(const Etcd&) = delete;
  Etcd& operator=(const Etcd&) = delete;

  struct Grant {
    std::int64_t id = 0;
    std::int64_t ttl_s = 0;
  };
  boost::asio::awaitable<Outcome<Grant>> grant(std::int64_t ttl_s);
  /// The lease's TTL after the renewal; 0 when etcd no longer knows it.
  boost::asio::awaitable<Outcome<std::int64_t>> keepalive(std::int64_t lease);
  boost::asio::awaitable<Outcome<bool>> revoke(std::int64_t lease);
  /// Puts key=value bound to `lease` unless the key exists. Returns true when
  /// this call created it.
  boost::asio::awaitable<Outcome<bool>> create(const std::string& key, const std::string& value, std::int64_t lease);
  /// Deletes `key` if it still holds `value` under `lease`. True when deleted.
  boost::asio::awaitable<Outcome<bool>> remove_own(const std::string& key, const std::string& value,
                                                   std::int64_t lease);
  /// Every key starting with `prefix`.
  boost::asio::awaitable<Outcome<std::vector<KeyValue>>> list(const std::string& prefix);

  /// The endpoint the last call used.
  const std::string& endpoint() const;
  void shutdown();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// The JSON bodies and their answers (for tests): each parse returns
/// nullopt for an answer that is not what etcd sends.
namespace etcd_json {
std::string grant(std::int64_t ttl_s);
std::string lease_id(std::int64_t lease);
std::string create(const std::string& key, const std::string& value, std::int64_t lease);
std::string remove_own(const std::string& key, const std::string& value, std::int64_t lease);
std::string range_prefix(const std::string& prefix);
std::optional<Etcd::Grant> parse_grant(std::string_view body);
std::optional<std::int64_t> parse_keepalive(std::string_view body);
std::optional<bool> parse_succeeded(std::string_view body);
std::optional<std::vector<KeyValue>> parse_range(std::string_view body);
/// The key just after every key starting with `prefix` (etcd's range_end).
std::string prefix_end(std::string prefix);
}  // namespace etcd_json

}  // namespace groupwatch::cluster
