// etcd's JSON gateway as it answers (bodies copied from etcd 3.4.23): the
// parsers read what etcd sends, including what it leaves out (a TTL of 0, a
// false `succeeded`, an empty `kvs`), and refuse what is not etcd's.
#include <gtest/gtest.h>

#include "groupwatch/cluster/etcd.hpp"
#include "groupwatch/util/base64.hpp"

namespace ej = groupwatch::cluster::etcd_json;

namespace {
constexpr const char* kHeader =
    R"("header":{"cluster_id":"15118495548433857066","member_id":"13668033151171901709","revision":"2","raft_term":"2"})";
std::string with_header(const std::string& rest) {
  return std::string("{") + kHeader + rest + "}";
}
}  // namespace

TEST(EtcdJson, GrantGivesTheIdAndTtl) {
  auto g = ej::parse_grant(with_header(R"(,"ID":"4111120386497842181","TTL":"5")"));
  ASSERT_TRUE(g);
  EXPECT_EQ(g->id, 4111120386497842181);  // above 2^53: read as a string, not a double
  EXPECT_EQ(g->ttl_s, 5);
  EXPECT_FALSE(ej::parse_grant(with_header(R"(,"ID":"0","TTL":"5")")));
  EXPECT_FALSE(ej::parse_grant(R"({"error":"etcdserver: too many requests","code":14})"));
  EXPECT_FALSE(ej::parse_grant("<html>"));
}

TEST(EtcdJson, KeepaliveOfALapsedLeaseIsZero) {
  EXPECT_EQ(ej::parse_keepalive(std::string(R"({"result":{)") + kHeader + R"(,"ID":"41","TTL":"10"}})"), 10);
  EXPECT_EQ(ej::parse_keepalive(std::string(R"({"result":{)") + kHeader + R"(,"ID":"41"}})"), 0);
  EXPECT_FALSE(ej::parse_keepalive(R"({"error":{"grpc_code":14,"message":"unavailable"}})"));
}

TEST(EtcdJson, TxnSucceededIsLeftOutWhenFalse) {
  EXPECT_EQ(ej::parse_succeeded(with_header(R"(,"succeeded":true,"responses":[{"response_put":{}}])")), true);
  EXPECT_EQ(ej::parse_succeeded(with_header(R"(,"responses":[])")), false);
  EXPECT_FALSE(ej::parse_succeeded(R"({"error":"etcdserver: requested lease not found","code":5})"));
}

TEST(EtcdJson, RangeDecodesKeysValuesAndLeases) {
  auto kvs = ej::parse_range(with_header(
      R"(,"kvs":[{"key":"L2d3L2FwcHMvMQ==","create_revision":"2","mod_revision":"2","version":"1","value":"YQ==",)"
      R"("lease":"4111120386497842181"},{"key":"L2d3L21lbWJlcnMvYg==","value":"Yg=="}],"count":"2")"));
  ASSERT_TRUE(kvs);
  ASSERT_EQ(kvs->size(), 2u);
  EXPECT_EQ((*kvs)[0].key, "/gw/apps/1");
  EXPECT_EQ((*kvs)[0].value, "a");
  EXPECT_EQ((*kvs)[0].lease, 4111120386497842181);
  EXPECT_EQ((*kvs)[1].key, "/gw/members/b");
  EXPECT_EQ((*kvs)[1].lease, 0);
  auto none = ej::parse_range(with_header(""));
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  EXPECT_FALSE(ej::parse_range(with_header(R"(,"kvs":[{"key":"not base64!"}])")));
  EXPECT_FALSE(ej::parse_range(R"({"kvs":[]})"));  // no header: not etcd
}

TEST(EtcdJson, BodiesCarryBase64KeysAndAPrefixRange) {
  EXPECT_EQ(ej::prefix_end("/gw/"), "/gw0");
  EXPECT_EQ(ej::prefix_end(std::string("a\xff", 2)), "b");
  const auto range = ej::range_prefix("/gw/");
  EXPECT_NE(range.find(groupwatch::base64_encode("/gw/")), std::string::npos);
  EXPECT_NE(range.find(groupwatch::base64_encode("/gw0")), std::string::npos);
  const auto create = ej::create("/gw/apps/7", "gw-1", 99);
  EXPECT_NE(create.find(R"("target":"CREATE")"), std::string::npos);
  EXPECT_NE(create.find(R"("create_revision":"0")"), std::string::npos);
  EXPECT_NE(create.find(R"("lease":"99")"), std::string::npos);
  EXPECT_NE(create.find(groupwatch::base64_encode("gw-1")), std::string::npos);
  // Our key only: the value and the lease must both still be ours.
  const auto remove = ej::remove_own("/gw/apps/7", "gw-1", 99);
  EXPECT_NE(remove.find(R"("target":"VALUE")"), std::string::npos);
  EXPECT_NE(remove.find(R"("target":"LEASE")"), std::string::npos);
  EXPECT_NE(remove.find("request_delete_range"), std::string::npos);
}
