#include "groupwatch/tencent/request.hpp"

#include <algorithm>

#include <array>

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include "groupwatch/util/text.hpp"
#include "groupwatch/util/url.hpp"

namespace groupwatch::tencent {
namespace {

namespace urls = boost::urls;

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
  out.append(url_host(host));
  if (port != (tls ? "443" : "80")) out.append(":").append(port);
  out.append(base_path);
  return out;
}

namespace {

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

constexpr std::string_view kBadPort = "port must be a number from 1 to 65535";

// Boost.URL refused `rest` (the URL after "scheme://"): name what an operator
// most likely got wrong, in the authority first.
std::string why_unparsable(std::string_view rest) {
  const std::string_view authority = rest.substr(0, rest.find('/'));
  if (!authority.empty() && authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return "unclosed [ in IPv6 address";
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty() && after.front() != ':') return "unexpected text after IPv6 address";
    if (after.empty() || all_digits(after.substr(1))) return "invalid IPv6 address";
    return std::string(kBadPort);
  }
  if (const std::size_t colon = authority.find(':'); colon != std::string_view::npos) {
    if (!all_digits(authority.substr(colon + 1))) return std::string(kBadPort);
  }
  if (!urls::parse_authority(authority)) return "invalid character in host name";
  return "invalid character in path";
}

// The host as a connection needs it, or why it will not do.
std::optional<std::string> host_of(const urls::url_view& u, std::string* error) {
  switch (u.host_type()) {
    case urls::host_type::ipv6:
      return u.host_address();  // without the brackets
    case urls::host_type::ipvfuture:
      fail(error, "invalid IPv6 address");
      return std::nullopt;
    default:
      break;
  }
  const std::string_view host = u.encoded_host();  // a name keeps its %XX: refused below
  if (host.empty()) {
    fail(error, "no host");
    return std::nullopt;
  }
  if (!std::all_of(host.begin(), host.end(), is_host_char)) {
    fail(error, "invalid character in host name");
    return std::nullopt;
  }
  return std::string(host);
}

// A written port (1..65535), or the scheme's default.
std::optional<std::string> port_of(const urls::url_view& u, bool tls, std::string* error) {
  if (!u.has_port()) return std::string(tls ? "443" : "80");
  const std::string_view port = u.port();
  if (port.empty()) {
    fail(error, "empty port");
    return std::nullopt;
  }
  const auto value = parse_number<unsigned>(port);
  if (!value || *value == 0 || *value > 65535) {
    fail(error, std::string(kBadPort));
    return std::nullopt;
  }
  return std::to_string(*value);
}

}  // namespace

// The scheme and the characters are checked on the text, because Boost.URL
// would take "localhost:8443" for a URL of scheme "localhost"; the rest is
// RFC 3986's grammar, parsed by Boost.URL.
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
  if (std::any_of(rest.begin(), rest.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return u <= ' ' || u >= 0x7f;
      })) {
    fail(error, "contains whitespace or non-ASCII characters");
    return std::nullopt;
  }
  auto parsed = urls::parse_uri(url);
  if (!parsed) {
    fail(error, why_unparsable(rest));
    return std::nullopt;
  }
  const urls::url_view& u = *parsed;
  // Boost.URL 1.81 lets the path follow the authority without its '/': text
  // after a port or a ']' shows up as a path ("https://host:12ab" is port 12
  // and path "ab"). Such a URL is no endpoint.
  if (!u.encoded_path().empty() && u.encoded_path().front() != '/') {
    fail(error, why_unparsable(rest));
    return std::nullopt;
  }
  if (u.has_query() || u.has_fragment()) {
    fail(error, "must not have a query or fragment");
    return std::nullopt;
  }
  if (u.has_userinfo()) {
    fail(error, "must not contain user information");
    return std::nullopt;
  }
  auto host = host_of(u, error);
  if (!host) return std::nullopt;
  auto port = port_of(u, ep.tls, error);
  if (!port) return std::nullopt;
  ep.host = std::move(*host);
  ep.port = std::move(*port);
  std::string_view path = u.encoded_path();
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
