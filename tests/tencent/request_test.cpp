#include "groupwatch/tencent/request.hpp"

#include <gtest/gtest.h>

#include <simdjson.h>
#include <set>

namespace groupwatch::tencent {
namespace {

TEST(Regions, TableMatchesTheDoc) {
  EXPECT_EQ(regions().size(), 9u);
  std::set<std::string_view> names;
  for (const Region& r : regions()) {
    EXPECT_TRUE(names.insert(r.name).second) << r.name;
    EXPECT_FALSE(r.primary.empty()) << r.name;
  }
  auto sg = find_region("singapore");
  ASSERT_TRUE(sg);
  EXPECT_EQ(sg->primary, "adminapisgp.im.qcloud.com");
  EXPECT_EQ(sg->backup, "adminapisgp.my-imcloud.com");
  auto cn = find_region("china");
  ASSERT_TRUE(cn);
  EXPECT_EQ(cn->primary, "console.tim.qq.com");
  EXPECT_EQ(cn->backup, "adminapi.my-imcloud.com");
  EXPECT_EQ(find_region("silicon-valley")->primary, "adminapiusa.im.qcloud.com");
  EXPECT_EQ(find_region("riyadh")->backup, "");
  EXPECT_FALSE(find_region("mars"));
  EXPECT_FALSE(find_region("Singapore"));
}

TEST(Endpoint, RegionEndpointIsHttpsOn443) {
  Endpoint ep = region_endpoint(*find_region("tokyo"));
  EXPECT_TRUE(ep.tls);
  EXPECT_EQ(ep.host, "adminapijpn.im.qcloud.com");
  EXPECT_EQ(ep.port, "443");
  EXPECT_EQ(ep.base_path, "");
  EXPECT_EQ(ep.url(), "https://adminapijpn.im.qcloud.com");
}

TEST(Endpoint, ParsesHttpsUrls) {
  struct Case {
    const char* text;
    const char* host;
    const char* port;
    const char* base_path;
    const char* url;
  };
  const Case cases[] = {
      {"https://127.0.0.1:18443", "127.0.0.1", "18443", "", "https://127.0.0.1:18443"},
      {"HTTPS://proxy.example.com/tim/", "proxy.example.com", "443", "/tim", "https://proxy.example.com/tim"},
      {"https://[::1]:8443/x", "::1", "8443", "/x", "https://[::1]:8443/x"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    std::string err;
    auto ep = parse_endpoint(c.text, &err);
    ASSERT_TRUE(ep) << err;
    EXPECT_EQ(ep->host, c.host);
    EXPECT_EQ(ep->port, c.port);
    EXPECT_EQ(ep->base_path, c.base_path);
    EXPECT_EQ(ep->url(), c.url);
  }
}

TEST(Endpoint, PlainHttpOnlyWhenAllowed) {
  std::string err;
  EXPECT_FALSE(parse_endpoint("http://127.0.0.1:8080", &err));
  EXPECT_NE(err.find("https"), std::string::npos) << err;
  auto ep = parse_endpoint("http://127.0.0.1:8080", &err, true);
  ASSERT_TRUE(ep) << err;
  EXPECT_FALSE(ep->tls);
  auto dflt = parse_endpoint("http://localhost", &err, true);
  ASSERT_TRUE(dflt);
  EXPECT_EQ(dflt->port, "80");
  EXPECT_EQ(dflt->url(), "http://localhost");
}

// The texts an operator reads after "endpoint: ": the same before and after
// the parsing moved to Boost.URL.
TEST(Endpoint, RejectsMalformedUrlsSayingWhy) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "must start with https://"},
      {"127.0.0.1:18443", "must start with https://"},
      {"localhost:8443", "must start with https://"},
      {"ftp://x", "must start with https://"},
      {"https:/x", "must start with https://"},
      {"http://x", "plain http:// is not allowed, use https://"},
      {"https://", "no host"},
      {"https://:443", "no host"},
      {"https:///path", "no host"},
      {"https://host:", "empty port"},
      {"https://[::1]:", "empty port"},
      {"https://host:0", "port must be a number from 1 to 65535"},
      {"https://host:65536", "port must be a number from 1 to 65535"},
      {"https://host:99999999999", "port must be a number from 1 to 65535"},
      {"https://host:12ab", "port must be a number from 1 to 65535"},
      {"https://host:+1", "port must be a number from 1 to 65535"},
      {"https://host:-1", "port must be a number from 1 to 65535"},
      {"https://[::1]:x", "port must be a number from 1 to 65535"},
      {"https://host:443:1", "port must be a number from 1 to 65535"},
      {"https://user@host", "must not contain user information"},
      {"https://user:pw@host:443/p", "must not contain user information"},
      {"https://host/p?q=1", "must not have a query or fragment"},
      {"https://host?", "must not have a query or fragment"},
      {"https://host/#f", "must not have a query or fragment"},
      {"https://ho st", "contains whitespace or non-ASCII characters"},
      {"https://host/a\tb", "contains whitespace or non-ASCII characters"},
      {"https://h\xc3\xb6.st", "contains whitespace or non-ASCII characters"},
      {"https://[::1", "unclosed [ in IPv6 address"},
      {"https://[::1]x", "unexpected text after IPv6 address"},
      {"https://[::g]", "invalid IPv6 address"},
      {"https://[v1.x]", "invalid IPv6 address"},
      {"https://ho!st", "invalid character in host name"},
      {"https://ho%41st", "invalid character in host name"},
      {"https://ho\"st", "invalid character in host name"},
  };
  for (const auto& [bad, why] : cases) {
    std::string err;
    EXPECT_FALSE(parse_endpoint(bad, &err, /*allow_plain=*/std::string_view(bad) != "http://x")) << bad;
    EXPECT_EQ(err, why) << bad;
  }
  EXPECT_FALSE(parse_endpoint("https://", nullptr));  // no error sink is fine
}

// New with Boost.URL: brackets must hold a real IPv6 address (the old parser
// only checked its characters).
TEST(Endpoint, BracketsHoldARealIpv6Address) {
  std::string err;
  EXPECT_FALSE(parse_endpoint("https://[1:2]", &err));
  EXPECT_EQ(err, "invalid IPv6 address");
  auto ok = parse_endpoint("https://[2001:db8::1]:8443", &err);
  ASSERT_TRUE(ok) << err;
  EXPECT_EQ(ok->host, "2001:db8::1");
}

TEST(Endpoint, KeepsThePathAsWrittenWithoutTrailingSlashes) {
  std::string err;
  auto ep = parse_endpoint("https://h.example:8443/a%20b/c//", &err);
  ASSERT_TRUE(ep) << err;
  EXPECT_EQ(ep->base_path, "/a%20b/c");
  EXPECT_EQ(ep->port, "8443");
  auto v4 = parse_endpoint("https://10.0.0.1:00443", &err);
  ASSERT_TRUE(v4) << err;
  EXPECT_EQ(v4->host, "10.0.0.1");
  EXPECT_EQ(v4->port, "443");
}

TEST(Target, HasTheFiveQueryParameters) {
  EXPECT_EQ(build_target("", 1400000001, "administrator", "eJyrVg*-_", 4294967295u),
            "/v4/million_group_open_http_svc/get_online_member_num?sdkappid=1400000001&identifier=administrator"
            "&usersig=eJyrVg*-_&random=4294967295&contenttype=json");
}

TEST(Target, KeepsBasePath) {
  EXPECT_EQ(build_target("/tim", 1, "a", "s", 0),
            "/tim/v4/million_group_open_http_svc/get_online_member_num?sdkappid=1&identifier=a&usersig=s&random=0"
            "&contenttype=json");
}

TEST(Target, PercentEncodesTheIdentifier) {
  std::string t = build_target("", 1, "a b&c=d/é?#%+", "s", 7);
  EXPECT_NE(t.find("&identifier=a%20b%26c%3Dd%2F%C3%A9%3F%23%25%2B&usersig=s&"), std::string::npos) << t;
  std::string unreserved = build_target("", 1, "Az09-._~", "s", 7);
  EXPECT_NE(unreserved.find("identifier=Az09-._~&"), std::string::npos) << unreserved;
}

std::string parse_group_id(const std::string& body) {
  simdjson::dom::parser p;
  std::string_view v;
  auto err = p.parse(body)["GroupId"].get_string().get(v);
  EXPECT_EQ(err, simdjson::SUCCESS) << body;
  return std::string(v);
}

TEST(Body, PlainGroupId) {
  EXPECT_EQ(build_body("@TGS#_@TGS#cQVLVHIM62CJ"), R"({"GroupId":"@TGS#_@TGS#cQVLVHIM62CJ"})");
}

// The hot path's pieces are the same bytes as build_body, or refuse an ID
// that needs escaping.
TEST(Body, PiecesAreTheBodyOrRefuseWhatNeedsEscaping) {
  for (std::string id : {std::string("@TGS#_@TGS#cQVLVHIM62CJ"), std::string(""), std::string("a b~!#$%&'()*+,-./")}) {
    auto pieces = body_pieces(id);
    ASSERT_TRUE(pieces) << id;
    std::string joined;
    for (auto p : *pieces) joined += p;
    EXPECT_EQ(joined, build_body(id));
  }
  for (std::string id : {std::string("a\"b"), std::string("a\\b"), std::string("x\ny"), std::string("\x7f"),
                         std::string("@TGS#_群组")}) {
    EXPECT_FALSE(body_pieces(id)) << id;
  }
}

TEST(Body, EscapesAndRoundTrips) {
  EXPECT_EQ(build_body("a\"b\\c"), R"({"GroupId":"a\"b\\c"})");
  EXPECT_EQ(build_body("x\ny\t\x01"), R"({"GroupId":"x\ny\t\u0001"})");
  for (std::string id : {std::string("@TGS#_群组"), std::string("q\"uo\\te\r\n"), std::string("\x1f\x7f"),
                         std::string("@TGS#_😀"), std::string("")}) {
    EXPECT_EQ(parse_group_id(build_body(id)), id);
  }
}

TEST(Body, InvalidUtf8StillGivesValidJson) {
  std::string body = build_body("bad\xC3(");
  EXPECT_EQ(parse_group_id(body), "bad\xEF\xBF\xBD(");
}

}  // namespace
}  // namespace groupwatch::tencent
