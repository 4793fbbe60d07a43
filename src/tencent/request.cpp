#include "groupwatch/tencent/request.hpp"

#include <algorithm>

#include <array>
#include <charconv>

#include "groupwatch/util/text.hpp"

namespace groupwatch::tencent {
namespace {

constexpr std::array<Region, 9> region_table{{
    {"china", "console.tim.qq.com", "adminapi.my-imcloud.com"},
    {"singapore", "adminapisgp.im.qcloud.com", "adminapisgp.my-imcloud.com"},
    {"seoul", "adminapikr.im.qcloud.com", "adminapikr.my-imcloud.com"},
    {"tokyo", "adminapijpn.im.qcloud.com", "adminapijpn.my-imcloud.com"},
    {"frankfurt", "adminapiger.im.qcloud.com", "adminapiger.my-imcloud.com"},
    {"mumbai", "adminapiind.im.qcloud.com", "adminapiind.my-imcloud.com"},
    {"silicon-valley", "adminapiusa.im.qcloud.com", "adminapiusa.my-imcloud.com"},
    {"jakarta", "adminapiidn.im.qcloud.com", "adminapiidn.my-imcloud.com"},
    {"riyadh", "adminapiksa.im.qcloud.com", ""},
}};

bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

// `keep` is extra characters allowed through unencoded.
void append_percent_encoded(std::string& out, std::string_view s, std::string_view keep = {}) {
  static constexpr char hex[] = "0123456789ABCDEF";
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (is_unreserved(c) || keep.find(ch) != std::string_view::npos) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 0xF]);
    }
  }
}

bool iequals_prefix(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

bool fail(std::string* error, std::string msg) {
  if (error) *error = std::move(msg);
  return false;
}

bool is_host_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

}  // namespace

std::span<const Region> regions() {
  return region_table;
}

std::optional<Region> find_region(std::string_view name) {
  for (const Region& r : region_table) {
    if (r.name == name) return r;
  }
  return std::nullopt;
}

std::string Endpoint::url() const {
  std::string out = tls ? "https://" : "http://";
  bool v6 = host.find(':') != std::string::npos;
  if (v6) out.push_back('[');
  out.append(host);
  if (v6) out.push_back(']');
  if (port != (tls ? "443" : "80")) out.append(":").append(port);
  out.append(base_path);
  return out;
}

namespace {

// HOST, HOST:PORT, [IPV6] or [IPV6]:PORT (the port still as written).
bool split_authority(std::string_view authority, std::string_view& host, std::string_view& port, std::string* error) {
  if (!authority.empty() && authority.front() == '[') {
    std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return fail(error, "unclosed [ in IPv6 address");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return fail(error, "unexpected text after IPv6 address");
      port = after.substr(1);
      if (port.empty()) return fail(error, "empty port");
    }
    for (char c : host) {
      bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.';
      if (!ok) return fail(error, "invalid IPv6 address");
    }
  } else {
    std::size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return fail(error, "empty port");
    }
    for (char c : host) {
      if (!is_host_char(c)) return fail(error, "invalid character in host name");
    }
  }
  if (host.empty()) return fail(error, "no host");
  return true;
}

// A written port (1..65535, digits only), or the scheme's default.
std::optional<std::string> port_of(std::string_view port, bool tls, std::string* error) {
  if (port.empty()) return std::string(tls ? "443" : "80");
  unsigned value = 0;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc{} || p != port.data() + port.size() || value == 0 || value > 65535 || port.front() == '+') {
    fail(error, "port must be a number from 1 to 65535");
    return std::nullopt;
  }
  return std::to_string(value);
}

}  // namespace

std::optional<Endpoint> parse_endpoint(std::string_view url, std::string* error, bool allow_plain) {
  Endpoint ep;
  std::string_view rest;
  if (iequals_prefix(url, "https://")) {
    rest = url.substr(8);
  } else if (iequals_prefix(url, "http://")) {
    if (!allow_plain) {
      fail(error, "plain http:// is not allowed, use https://");
      return std::nullopt;
    }
    ep.tls = false;
    rest = url.substr(7);
  } else {
    fail(error, "must start with https://");
    return std::nullopt;
  }
  for (char c : rest) {
    auto u = static_cast<unsigned char>(c);
    if (u <= ' ' || u >= 0x7f) {
      fail(error, "contains whitespace or non-ASCII characters");
      return std::nullopt;
    }
  }
  if (rest.find_first_of("?#") != std::string_view::npos) {
    fail(error, "must not have a query or fragment");
    return std::nullopt;
  }
  std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos) {
    fail(error, "must not contain user information");
    return std::nullopt;
  }
  std::string_view host, port;
  if (!split_authority(authority, host, port, error)) return std::nullopt;
  auto p = port_of(port, ep.tls, error);
  if (!p) return std::nullopt;
  ep.port = std::move(*p);
  ep.host = std::string(host);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  ep.base_path = std::string(path);
  return ep;
}

Endpoint region_endpoint(const Region& r) {
  Endpoint ep;
  ep.tls = true;
  ep.host = std::string(r.primary);
  ep.port = "443";
  return ep;
}

std::string build_target(std::string_view base_path, std::uint64_t sdkappid, std::string_view identifier,
                         std::string_view usersig, std::uint32_t random) {
  return build_target_for(command_path, base_path, sdkappid, identifier, usersig, random);
}

std::string build_target_for(std::string_view path, std::string_view base_path, std::uint64_t sdkappid,
                             std::string_view identifier, std::string_view usersig, std::uint32_t random) {
  std::string t;
  t.reserve(base_path.size() + path.size() + usersig.size() + identifier.size() + 96);
  t.append(base_path).append(path);
  t.append("?sdkappid=").append(std::to_string(sdkappid));
  t.append("&identifier=");
  append_percent_encoded(t, identifier);
  t.append("&usersig=");
  append_percent_encoded(t, usersig, "*");  // a UserSig is [A-Za-z0-9*_-] by construction
  t.append("&random=").append(std::to_string(random));
  t.append("&contenttype=json");
  return t;
}

std::optional<std::array<std::string_view, 3>> body_pieces(std::string_view group_id) {
  const bool plain = std::all_of(group_id.begin(), group_id.end(),
                                 [](char c) { return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\'; });
  if (!plain) return std::nullopt;
  return std::array<std::string_view, 3>{R"({"GroupId":")", group_id, R"("})"};
}

std::string build_body(std::string_view group_id) {
  std::string body;
  body.reserve(group_id.size() + 16);  // escapes are rare: one allocation
  body = "{\"GroupId\":";
  append_json_string(body, group_id);
  body.push_back('}');
  return body;
}

}  // namespace groupwatch::tencent
