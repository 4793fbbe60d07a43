// etcd's v3 JSON gateway: every call is a POST of a JSON body to /v3/...,
// int64 fields travel as strings, keys and values as base64.
#include "groupwatch/cluster/etcd.hpp"

#include <simdjson.h>

#include <fmt/format.h>

#include "groupwatch/http/pool.hpp"
#include "groupwatch/tencent/request.hpp"
#include "groupwatch/util/base64.hpp"
#include "groupwatch/util/text.hpp"

namespace groupwatch::cluster {

namespace asio = boost::asio;
namespace dom = simdjson::dom;

namespace etcd_json {

std::string grant(std::int64_t ttl_s) {
  return fmt::format(R"({{"TTL":"{}"}})", ttl_s);
}

std::string lease_id(std::int64_t lease) {
  return fmt::format(R"({{"ID":"{}"}})", lease);
}

std::string create(const std::string& key, const std::string& value, std::int64_t lease) {
  const auto k = base64_encode(key);
  return fmt::format(R"({{"compare":[{{"target":"CREATE","key":"{0}","create_revision":"0"}}],)"
                     R"("success":[{{"request_put":{{"key":"{0}","value":"{1}","lease":"{2}"}}}}]}})",
                     k, base64_encode(value), lease);
}

std::string remove_own(const std::string& key, const std::string& value, std::int64_t lease) {
  const auto k = base64_encode(key);
  return fmt::format(
      R"({{"compare":[{{"target":"VALUE","key":"{0}","value":"{1}"}},{{"target":"LEASE","key":"{0}","lease":"{2}"}}],)"
      R"("success":[{{"request_delete_range":{{"key":"{0}"}}}}]}})",
      k, base64_encode(value), lease);
}

std::string prefix_end(std::string prefix) {
  // The prefix with its last byte below 0xff incremented (and what follows dropped).
  while (!prefix.empty()) {
    auto& last = prefix.back();
    if (static_cast<unsigned char>(last) < 0xff) {
      last = static_cast<char>(static_cast<unsigned char>(last) + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');  // every key
}

std::string range_prefix(const std::string& prefix) {
  return fmt::format(R"({{"key":"{}","range_end":"{}"}})", base64_encode(prefix), base64_encode(prefix_end(prefix)));
}

namespace {

// An int64 that etcd writes as a JSON string (or, from other gateways, a number).
std::optional<std::int64_t> int_field(dom::element obj, std::string_view name) {
  dom::element v;
  if (obj[name].get(v) != simdjson::SUCCESS) return std::nullopt;
  std::int64_t n = 0;
  if (v.get_int64().get(n) == simdjson::SUCCESS) return n;
  std::string_view s;
  if (v.get_string().get(s) != simdjson::SUCCESS) return std::nullopt;
  return parse_number<std::int64_t>(s);
}

// Every answer carries a header; an answer without one is not etcd's.
std::optional<dom::element> parse_object(dom::parser& parser, std::string_view body) {
  dom::element root;
  if (parser.parse(body.data(), body.size()).get(root) != simdjson::SUCCESS || !root.is_object()) return std::nullopt;
  return root;
}

}  // namespace

std::optional<Etcd::Grant> parse_grant(std::string_view body) {
  dom::parser parser;
  auto root = parse_object(parser, body);
  if (!root) return std::nullopt;
  auto id = int_field(*root, "ID");
  auto ttl = int_field(*root, "TTL");
  if (!id || !ttl || *id == 0 || *ttl <= 0) return std::nullopt;
  return Etcd::Grant{*id, *ttl};
}

std::optional<std::int64_t> parse_keepalive(std::string_view body) {
  dom::parser parser;
  auto root = parse_object(parser, body);
  if (!root) return std::nullopt;
  dom::element result;
  if ((*root)["result"].get(result) != simdjson::SUCCESS || !result.is_object()) return std::nullopt;
  // etcd leaves out a TTL of 0: the lease is gone.
  return int_field(result, "TTL").value_or(0);
}

std::optional<bool> parse_succeeded(std::string_view body) {
  dom::parser parser;
  auto root = parse_object(parser, body);
  if (!root) return std::nullopt;
  dom::element header;
  if ((*root)["header"].get(header) != simdjson::SUCCESS) return std::nullopt;
  bool ok = false;  // left out when false
  if ((*root)["succeeded"].get_bool().get(ok) != simdjson::SUCCESS) ok = false;
  return ok;
}

std::optional<std::vector<KeyValue>> parse_range(std::string_view body) {
  dom::parser parser;
  auto root = parse_object(parser, body);
  if (!root) return std::nullopt;
  dom::element header;
  if ((*root)["header"].get(header) != simdjson::SUCCESS) return std::nullopt;
  std::vector<KeyValue> out;
  dom::array kvs;
  if ((*root)["kvs"].get_array().get(kvs) != simdjson::SUCCESS) return out;  // left out when empty
  for (dom::element kv : kvs) {
    std::string_view k, v;
    if (kv["key"].get_string().get(k) != simdjson::SUCCESS) return std::nullopt;
    if (kv["value"].get_string().get(v) != simdjson::SUCCESS) v = {};
    auto key = base64_decode(k);
    auto value = base64_decode(v);
    if (!key || !value) return std::nullopt;
    out.push_back(KeyValue{std::move(*key), std::move(*value), int_field(kv, "lease").value_or(0)});
  }
  return out;
}

}  // namespace etcd_json

struct Etcd::Impl {
  struct Endpoint {
    std::string url;
    std::unique_ptr<http::Pool> pool;
  };
  std::vector<Endpoint> endpoints;
  std::size_t current = 0;
  http::RequestHead head;

  // POSTs `body` to `path` at the current endpoint, then at the others in
  // turn, until one answers 200. An answer of 4xx is etcd's word and
  // returned as such (a rejected request is not the endpoint's fault).
  asio::awaitable<Outcome<std::string>> call(const char* path, std::string body) {
    Outcome<std::string> out;
    std::string tried;
    for (std::size_t i = 0; i < endpoints.size(); ++i) {
      Endpoint& ep = endpoints[current];
      http::Response r = co_await ep.pool->post(path, body, nullptr, &head);
      if (r.failure == http::Failure::none && r.status == 200) {
        out.ok = true;
        out.value = std::move(r.body);
        co_return out;
      }
      std::string why = r.failure != http::Failure::none ? std::string(http::to_string(r.failure)) + ": " + r.detail
                                                         : fmt::format("HTTP {}: {}", r.status, r.body.substr(0, 200));
      if (!tried.empty()) tried += "; ";
      tried += ep.url + " " + why;
      if (r.failure == http::Failure::cancelled) break;
      if (r.failure == http::Failure::none && r.status >= 400 && r.status < 500) {
        out.error = tried;
        co_return out;
      }
      current = (current + 1) % endpoints.size();
    }
    out.error = tried;
    co_return out;
  }

  template <class T, class Parse>
  asio::awaitable<Outcome<T>> call_parsed(const char* path, std::string body, Parse parse) {
    Outcome<T> out;
    auto raw = co_await call(path, std::move(body));
    if (!raw.ok) {
      out.error = std::move(raw.error);
      co_return out;
    }
    auto v = parse(raw.value);
    if (!v) {
      out.error = fmt::format("{} {}: not an etcd answer: {}", endpoints[current].url, path, raw.value.substr(0, 200));
      co_return out;
    }
    out.ok = true;
    out.value = std::move(*v);
    co_return out;
  }
};

Etcd::Etcd(asio::any_io_executor ex, const std::vector<std::string>& endpoints, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>()) {
  for (const auto& url : endpoints) {
    std::string why;
    auto ep = tencent::parse_endpoint(url, &why, /*allow_plain=*/true);
    if (!ep) throw std::invalid_argument("etcd endpoint " + url + ": " + why);
    http::PoolOptions po;
    po.host = ep->host;
    po.port = ep->port;
    po.tls = ep->tls;
    po.max_connections = 4;
    po.timeout = timeout;
    po.max_body_bytes = std::size_t{4} << 20;
    impl_->endpoints.push_back(Impl::Endpoint{url, std::make_unique<http::Pool>(ex, po)});
  }
  if (impl_->endpoints.empty()) throw std::invalid_argument("no etcd endpoint");
}

Etcd::~Etcd() = default;

asio::awaitable<Outcome<Etcd::Grant>> Etcd::grant(std::int64_t ttl_s) {
  co_return co_await impl_->call_parsed<Grant>("/v3/lease/grant", etcd_json::grant(ttl_s), etcd_json::parse_grant);
}

asio::awaitable<Outcome<std::int64_t>> Etcd::keepalive(std::int64_t lease) {
  co_return co_await impl_->call_parsed<std::int64_t>("/v3/lease/keepalive", etcd_json::lease_id(lease),
                                                      etcd_json::parse_keepalive);
}

asio::awaitable<Outcome<bool>> Etcd::revoke(std::int64_t lease) {
  auto raw = co_await impl_->call("/v3/lease/revoke", etcd_json::lease_id(lease));
  co_return Outcome<bool>{raw.ok, std::move(raw.error), raw.ok};
}

asio::awaitable<Outcome<bool>> Etcd::create(const std::string& key, const std::string& value, std::int64_t lease) {
  co_return co_await impl_->call_parsed<bool>("/v3/kv/txn", etcd_json::create(key, value, lease),
                                              etcd_json::parse_succeeded);
}

asio::awaitable<Outcome<bool>> Etcd::remove_own(const std::string& key, const std::string& value, std::int64_t lease) {
  co_return co_await impl_->call_parsed<bool>("/v3/kv/txn", etcd_json::remove_own(key, value, lease),
                                              etcd_json::parse_succeeded);
}

asio::awaitable<Outcome<std::vector<KeyValue>>> Etcd::list(const std::string& prefix) {
  co_return co_await impl_->call_parsed<std::vector<KeyValue>>("/v3/kv/range", etcd_json::range_prefix(prefix),
                                                               etcd_json::parse_range);
}

const std::string& Etcd::endpoint() const {
  return impl_->endpoints[impl_->current].url;
}

void Etcd::shutdown() {
  for (auto& ep : impl_->endpoints) ep.pool->shutdown();
}

}  // namespace groupwatch::cluster
