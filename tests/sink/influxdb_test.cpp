// The influxdb sink: line protocol and settings as units; v1 against a real
// InfluxDB 1.6 on loopback (scripts/servers/influxdb). InfluxDB 1.6 has no
// /api/v2/write (it answers 404), so the v2 request form (path, query,
// Authorization: Token, gzip body) is checked against an in-test HTTP server
// that records what it receives.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>
#include <sys/resource.h>

#include <chrono>
#include <iostream>
#include <map>
#include <memory>

#include "sink/helpers.hpp"
#include "sinks/influxdb/influxdb.hpp"
#include "support/servers.hpp"

namespace {

using namespace gw_test;
namespace influx = groupwatch::sinks::influxdb;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

std::string line_of(const delivery::Result& r, std::string_view measurement = "groupwatch") {
  std::string out;
  influx::append_line(out, measurement, r);
  return out;
}

// ---- line protocol

TEST(InfluxLineProtocol, OkAndErrorRows) {
  EXPECT_EQ(line_of(make_result(7)),
            "groupwatch,app=prod-sg,group_id=@TGS#_group7 online_member_num=7i,error_code=0i,error_info=\"\" "
            "1700000000007\n");
  // InfluxDB has no NULL: an error row has no online_member_num field.
  EXPECT_EQ(line_of(make_result(8, 10015)),
            "groupwatch,app=prod-sg,group_id=@TGS#_group8 error_code=10015i,error_info=\"failure 8\" 1700000000008\n");
  auto net = make_result(9, -1);
  EXPECT_THAT(line_of(net), HasSubstr(" error_code=-1i,"));
}

TEST(InfluxLineProtocol, EscapesTagsFieldsAndMeasurement) {
  auto r = make_result(1, 70001);
  r.app = "prod sg,eu=1";
  r.group_id = "a\\,b=c d";  // a backslash before a special character stays a backslash
  r.error_info = "say \"hi\", x=1 \\ end\\";
  EXPECT_EQ(line_of(r, "gw data,x"),
            "gw\\ data\\,x,app=prod\\ sg\\,eu\\=1,group_id=a\\\\,b\\=c\\ d "
            "error_code=70001i,error_info=\"say \\\"hi\\\", x=1 \\\\ end\\\\\" 1700000000001\n");
}

TEST(InfluxLineProtocol, NameAndLabelsAreEscapedTags) {
  auto r = make_result(3);
  r.meta = meta_of("VIP lounge,1", {{"my tier", "gold=1"}});
  EXPECT_THAT(line_of(r), StartsWith("groupwatch,app=prod-sg,group_id=@TGS#_group3,group_name=VIP\\ lounge\\,1,"
                                     "my\\ tier=gold\\=1 online_member_num=3i,"));
}

TEST(InfluxLineProtocol, ControlCharactersInvalidUtf8AndTrailingBackslash) {
  auto r = make_result(2, 1);
  r.app = "tab\there\\";                                   // control -> escaped space; trailing '\' dropped
  r.group_id = std::string("g\xff") + "\xe2\x82";          // invalid UTF-8 -> U+FFFD each
  r.error_info = "line1\nline2 \xe4\xb8\xad\xe6\x96\x87";  // newlines stay inside a quoted string
  EXPECT_EQ(line_of(r),
            "groupwatch,app=tab\\ here,group_id=g\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD "
            "error_code=1i,error_info=\"line1\nline2 \xe4\xb8\xad\xe6\x96\x87\" 1700000000002\n");
  r.app = "";  // an empty tag is left out rather than sent invalid
  EXPECT_THAT(line_of(r), StartsWith("groupwatch,group_id="));
}

TEST(InfluxLineProtocol, WriteTargets) {
  influx::Settings s;
  s.database = "gw db&x";
  EXPECT_EQ(influx::write_target(s), "/write?db=gw%20db%26x&precision=ms");
  s.retention_policy = "one_week";
  s.parsed.base_path = "/influx";
  EXPECT_EQ(influx::write_target(s), "/influx/write?db=gw%20db%26x&rp=one_week&precision=ms");
  influx::Settings v2;
  v2.version = 2;
  v2.org = "my org";
  v2.bucket = "gw/raw";
  EXPECT_EQ(influx::write_target(v2), "/api/v2/write?org=my%20org&bucket=gw%2Fraw&precision=ms");
}

TEST(InfluxLineProtocol, GzipRoundTrips) {
  std::string text;
  for (int i = 0; i < 300; ++i) text += line_of(make_result(i));
  auto z = influx::gzip(text);
  ASSERT_GE(z.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(z[0]), 0x1f);  // the gzip magic, not a bare zlib stream
  EXPECT_EQ(static_cast<unsigned char>(z[1]), 0x8b);
  EXPECT_LT(z.size(), text.size() / 4);
  EXPECT_EQ(gunzip(z), text);
  EXPECT_EQ(gunzip(influx::gzip("")), "");
}

// What a url is refused for: SaysWhatIsWrongWithAUrl.
TEST(InfluxUrl, ParsesTheSchemeHostPortAndPath) {
  std::string why;
  auto u = influx::parse_url("https://influx.example.com/proxy/", &why);
  ASSERT_TRUE(u) << why;
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "influx.example.com");
  EXPECT_EQ(u->port, "443");
  EXPECT_EQ(u->base_path, "/proxy");
  u = influx::parse_url("http://[::1]:8086", &why);
  ASSERT_TRUE(u) << why;
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, "8086");
  EXPECT_EQ(u->base_path, "");
  u = influx::parse_url("HTTP://Influx:8086/", &why);  // the scheme in any case
  ASSERT_TRUE(u) << why;
  EXPECT_FALSE(u->tls);
  EXPECT_EQ(u->base_path, "");
}

// What an operator reads for each kind of bad url, word for word.
TEST(InfluxUrl, SaysWhatIsWrongWithAUrl) {
  const std::pair<const char*, const char*> cases[] = {
      {"ftp://x", "url must start with http:// or https://"},
      {"influx:8086", "url must start with http:// or https://"},
      {"http://u:p@x:8086", "url must not hold credentials; use username/password (version 1) or token (version 2)"},
      {"http://x/write?db=a", "url must not have a query or fragment"},
      {"http://x/#top", "url must not have a query or fragment"},
      {"http://[::1", "url has an unclosed '[' in its host"},
      {"http://[::1]x/", "url has junk after the host"},
      {"http://:8086", "url has no host"},
      {"http://x:99999", "url has an invalid port"},
      {"http://x:0", "url has an invalid port"},
      {"http://x:", "url has an invalid port"},
      {"http://x:8o86", "url has an invalid port"},
      {"http://x/a b", "url must not contain spaces or non-ASCII characters"},
      {"http://in%20flux/", "url: invalid character in host name"},
  };
  for (const auto& [url, says] : cases) {
    std::string why;
    EXPECT_FALSE(influx::parse_url(url, &why)) << url;
    EXPECT_EQ(why, says) << url;
  }
}

// ---- settings

TEST(InfluxSinkConfig, V1AndV2Describe) {
  auto p = parse_yaml(
      "- type: influxdb\n  url: http://127.0.0.1:8086\n  database: gw\n  username: u\n  password: pw-Secret-1\n"
      "- type: influxdb\n  url: https://eu.cloud/\n  version: 2\n  org: acme\n  bucket: gw\n  token: tok-Secret-2\n"
      "  measurement: online\n  gzip: false\n  timeout: 3s\n");
  ASSERT_FALSE(p.diags.has_errors()) << p.errors();
  ASSERT_EQ(p.sinks.size(), 2u);
  EXPECT_EQ(p.sinks[0].name, "influxdb#1");
  EXPECT_EQ(p.sinks[0].spec->describe(), "influxdb v1 http://127.0.0.1:8086 database gw measurement groupwatch");
  EXPECT_EQ(p.sinks[1].spec->describe(), "influxdb v2 https://eu.cloud/ org acme bucket gw measurement online");
}

TEST(InfluxSinkConfig, ErrorsNameTheKeyAndNeverTheSecret) {
  auto p = parse_yaml(
      "- type: influxdb\n  url: http://x:8086\n  version: 2\n  org: acme\n  database: gw\n  password: pw-Secret-1\n"
      "- type: influxdb\n  url: tcp://x\n  version: 3\n"
      "- type: influxdb\n  url: http://x\n  database: gw\n  measurement: \"#m\"\n  gzip: maybe\n");
  auto errors = p.errors();
  EXPECT_THAT(gw_test::missing_from(errors, {"bucket is required for version 2", "token is required for version 2",
                                             "database applies to version 1 only", "password applies to version 1 only",
                                             "url must start with http:// or https://", "version",
                                             "measurement must be non-empty", "gzip"}),
              IsEmpty())
      << errors;
  EXPECT_THAT(errors, Not(HasSubstr("pw-Secret")));
  EXPECT_TRUE(p.sinks.empty());
}

// The token is written into the Authorization header as it is: a line break
// in it would add a header of the config's choosing.
TEST(InfluxSinkConfig, ATokenWithALineBreakIsRefused) {
  auto p = parse_yaml(
      "- type: influxdb\n  url: http://x:8086\n  version: 2\n  org: acme\n  bucket: gw\n"
      "  token: \"tok-Secret-3\\r\\nX-Injected: 1\"\n");
  EXPECT_THAT(p.errors(), HasSubstr("token must not contain control characters"));
  EXPECT_THAT(p.errors(), Not(HasSubstr("tok-Secret")));
  EXPECT_TRUE(p.sinks.empty());
}

// ---- the request form, against a recording server

std::string v2_yaml(int port, const std::string& extra = "") {
  return "- type: influxdb\n  url: http://127.0.0.1:" + std::to_string(port) +
         "\n  version: 2\n  org: my org\n  bucket: gw\n  token: tok-Secret-2\n" + extra;
}

TEST(InfluxSinkHttp, V2RequestFormGzipAndKeepAlive) {
  RecordingServer srv;
  auto s = make_sink(v2_yaml(srv.port()));
  std::vector<delivery::Result> batch = {make_result(1), make_result(2, 10015)};
  s->write(batch);
  s->write(std::span(batch).first(1));
  auto reqs = srv.requests();
  ASSERT_EQ(reqs.size(), 2u);
  const auto& r = reqs[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target, "/api/v2/write?org=my%20org&bucket=gw&precision=ms");
  EXPECT_EQ(r.headers.at("authorization"), "Token tok-Secret-2");
  EXPECT_EQ(r.headers.at("content-encoding"), "gzip");
  EXPECT_EQ(r.headers.at("host"), "127.0.0.1:" + std::to_string(srv.port()));
  EXPECT_EQ(gunzip(r.body), line_of(batch[0]) + line_of(batch[1]));
  EXPECT_EQ(gunzip(reqs[1].body), line_of(batch[0]));
  EXPECT_EQ(srv.connections(), 1);  // kept alive between batches
  EXPECT_EQ(reqs[1].connection, 1);
}

TEST(InfluxSinkHttp, V1BasicAuthRetentionPolicyAndPlainBody) {
  RecordingServer srv;
  auto s = make_sink("- type: influxdb\n  url: http://127.0.0.1:" + std::to_string(srv.port()) +
                     "/db/\n  database: gw\n  retention_policy: week\n  username: gw-user\n  password: pa:ss\n"
                     "  gzip: false\n  measurement: online\n");
  s->write(std::vector<delivery::Result>{make_result(3)});
  auto reqs = srv.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].target, "/db/write?db=gw&rp=week&precision=ms");
  EXPECT_EQ(reqs[0].headers.at("authorization"), "Basic Z3ctdXNlcjpwYTpzcw==");  // base64("gw-user:pa:ss")
  EXPECT_EQ(reqs[0].headers.count("content-encoding"), 0u);
  EXPECT_EQ(reqs[0].body, line_of(make_result(3), "online"));
}

TEST(InfluxSinkHttp, Non2xxThrowsWithStatusAndBodyExcerpt) {
  RecordingServer srv;
  srv.set_reply(400, "{\"error\":\"partial write: field type conflict\"}" + std::string(1000, 'x'));
  auto s = make_sink(v2_yaml(srv.port()));
  try {
    s->write(std::vector<delivery::Result>{make_result(1)});
    ADD_FAILURE() << "a 400 answer was taken for success";
  } catch (const std::exception& e) {
    std::string what = e.what();
    EXPECT_THAT(what, HasSubstr("HTTP 400"));
    EXPECT_THAT(what, HasSubstr("partial write: field type conflict"));
    EXPECT_THAT(what, HasSubstr(std::string(150, 'x') + "..."));
    EXPECT_THAT(what, Not(HasSubstr(std::string(200, 'x'))));  // only the first 200 bytes of the body
    EXPECT_THAT(what, Not(HasSubstr("tok-Secret")));
  }
  srv.set_reply(204, "");
  EXPECT_NO_THROW(s->write(std::vector<delivery::Result>{make_result(1)}));
}

TEST(InfluxSinkHttp, ServerClosingAKeptAliveConnectionIsRetriedOnce) {
  RecordingServer srv;
  srv.set_reply(204, "", RecordingServer::Mode::close_after_reply);
  auto s = make_sink(v2_yaml(srv.port()));
  s->write(std::vector<delivery::Result>{make_result(1)});
  std::this_thread::sleep_for(50ms);  // let the close arrive
  s->write(std::vector<delivery::Result>{make_result(2)});
  s->write(std::vector<delivery::Result>{make_result(3)});
  EXPECT_EQ(srv.requests().size(), 3u);
  EXPECT_EQ(srv.connections(), 3);
}

TEST(InfluxSinkHttp, NoAnswerTimesOut) {
  RecordingServer srv;
  srv.set_reply(204, "", RecordingServer::Mode::never_reply);
  auto s = make_sink(v2_yaml(srv.port(), "  timeout: 300ms\n"));
  auto t0 = std::chrono::steady_clock::now();
  try {
    s->write(std::vector<delivery::Result>{make_result(1)});
    ADD_FAILURE() << "no answer was taken for success";
  } catch (const std::exception& e) {
    EXPECT_THAT(e.what(), HasSubstr("no answer within 300ms"));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  srv.set_reply(204, "");
  EXPECT_NO_THROW(s->write(std::vector<delivery::Result>{make_result(1)}));  // a fresh connection
}

TEST(InfluxSinkHttp, RefusedConnectionThrows) {
  auto port = free_port();
  auto s = make_sink(v2_yaml(port));
  try {
    s->write(std::vector<delivery::Result>{make_result(1)});
    ADD_FAILURE() << "a write to a closed port succeeded";
  } catch (const std::exception& e) {
    EXPECT_THAT(e.what(), HasSubstr("influxdb http://127.0.0.1:" + std::to_string(port) + ": connect failed"));
  }
}

TEST(InfluxSinkHttp, HttpsToAPlainServerFailsTheHandshake) {
  RecordingServer srv;  // speaks plain HTTP only
  auto s = make_sink("- type: influxdb\n  url: https://127.0.0.1:" + std::to_string(srv.port()) +
                     "\n  database: gw\n  timeout: 2s\n");
  try {
    s->write(std::vector<delivery::Result>{make_result(1)});
    ADD_FAILURE() << "https to a plain HTTP server succeeded";
  } catch (const std::exception& e) {
    EXPECT_THAT(e.what(), HasSubstr("influxdb https://127.0.0.1:" + std::to_string(srv.port())));
    EXPECT_THAT(e.what(), HasSubstr("TLS handshake failed"));
  }
  EXPECT_TRUE(srv.requests().empty());
}

// ---- against a real InfluxDB 1.6

using Row = std::map<std::string, std::string>;  // column -> value ("null" for a missing field)

std::vector<Row> rows_of(const std::string& json) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(json).get(doc)) throw std::runtime_error("bad JSON: " + json);
  std::vector<Row> out;
  auto series = doc["results"].at(0)["series"];
  if (series.error()) return out;  // no points
  auto s = series.at(0);
  std::vector<std::string> cols;
  for (auto c : s["columns"].get_array()) cols.emplace_back(c.get_string().value());
  for (auto v : s["values"].get_array()) {
    Row row;
    std::size_t i = 0;
    for (auto cell : v.get_array()) {
      std::string val;
      if (cell.is_string()) {
        val = std::string(cell.get_string().value());
      } else if (cell.is_null()) {
        val = "null";
      } else {
        val = simdjson::minify(cell);
      }
      row[cols.at(i++)] = val;
    }
    out.push_back(std::move(row));
  }
  return out;
}

class InfluxSink : public RealServerTest<Influx, influxdb_unavailable> {
 protected:
  // Each test gets its own database.
  void prepare() override {
    db_ = "db_" + test_name();
    server_->command("CREATE DATABASE " + db_);
  }

  std::string yaml(const std::string& extra = "") const {
    return "- type: influxdb\n  url: " + server_->url() + "\n  database: " + db_ + "\n" + extra;
  }
  std::vector<Row> select(const std::string& q) const { return rows_of(server_->query(db_, q)); }
  int count() const {
    auto rows = select("SELECT count(error_code) FROM groupwatch");
    return rows.empty() ? 0 : std::stoi(rows[0].at("count"));
  }

  std::string db_;
};

TEST_F(InfluxSink, WritesPointsAndReadsThemBack) {
  auto s = make_sink(yaml());
  s->open();
  std::vector<delivery::Result> batch = mixed_results(10);
  batch[2].meta = meta_of("VIP lounge, 中", {{"tier", "gold"}});
  s->write(batch);
  auto rows = select("SELECT * FROM groupwatch ORDER BY time");
  ASSERT_EQ(rows.size(), 10u);
  // The name and labels are tags, read back as written.
  EXPECT_EQ(rows[2].at("group_name"), "VIP lounge, 中");
  EXPECT_EQ(rows[2].at("tier"), "gold");
  int missing = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    auto& r = rows[i];
    EXPECT_EQ(r.at("time"), std::to_string(1'700'000'000'000LL + static_cast<long long>(i)));
    EXPECT_EQ(r.at("app"), "prod-sg");
    EXPECT_EQ(r.at("group_id"), batch[i].group_id);
    EXPECT_EQ(r.at("error_code"), std::to_string(batch[i].error_code));
    EXPECT_EQ(r.at("error_info"), batch[i].error_info);
    if (batch[i].online_member_num) {
      EXPECT_EQ(r.at("online_member_num"), std::to_string(*batch[i].online_member_num));
    } else {
      EXPECT_EQ(r.at("online_member_num"), "null");
      ++missing;
    }
  }
  EXPECT_EQ(missing, 2);
  // Integers, not floats: a later float write would be a type conflict.
  auto types = select("SHOW FIELD KEYS FROM groupwatch");
  std::map<std::string, std::string> type_of;
  for (auto& t : types) type_of[t.at("fieldKey")] = t.at("fieldType");
  EXPECT_EQ(type_of["online_member_num"], "integer");
  EXPECT_EQ(type_of["error_code"], "integer");
  EXPECT_EQ(type_of["error_info"], "string");
}

TEST_F(InfluxSink, AwkwardStringsRoundTrip) {
  auto s = make_sink(yaml("  gzip: false\n"));
  const std::vector<std::string> apps = {"prod sg, \"eu\"", "应用=Ω", "a'b\\c", "x,y z=w"};
  const std::vector<std::string> infos = {"say \"hi\", x=1 \\ y", "多语言 ✓ émoji 🎉", "line1\nline2", "ends with \\"};
  std::vector<delivery::Result> batch;
  for (int i = 0; i < 4; ++i) {
    auto r = make_result(i, 70001);
    r.app = apps[i];
    r.group_id = "@TGS#" + apps[i];
    r.error_info = infos[i];
    batch.push_back(r);
  }
  s->write(batch);
  auto rows = select("SELECT * FROM groupwatch ORDER BY time");
  ASSERT_EQ(rows.size(), batch.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].at("app"), batch[i].app);
    EXPECT_EQ(rows[i].at("group_id"), batch[i].group_id);
    EXPECT_EQ(rows[i].at("error_info"), batch[i].error_info);
  }
  // Tags are queryable by their exact value.
  EXPECT_EQ(select("SELECT error_code FROM groupwatch WHERE app = 'x,y z=w'").size(), 1u);
}

TEST_F(InfluxSink, ReplayOverwritesTheSamePoints) {
  auto s = make_sink(yaml());
  std::vector<delivery::Result> batch;
  for (int i = 0; i < 100; ++i) batch.push_back(make_result(i));
  s->write(batch);
  s->write(batch);
  EXPECT_EQ(count(), 100);
}

TEST_F(InfluxSink, MissingDatabaseThrowsWithTheServersMessage) {
  auto s = make_sink("- type: influxdb\n  url: " + server_->url() + "\n  database: nope\n");
  try {
    s->write(std::vector<delivery::Result>{make_result(1)});
    ADD_FAILURE() << "a write to a missing database succeeded";
  } catch (const std::exception& e) {
    EXPECT_THAT(e.what(), HasSubstr("HTTP 404"));
    EXPECT_THAT(e.what(), HasSubstr("database not found"));
  }
}

TEST_F(InfluxSink, OutageThrowsAndRecovers) {
  auto s = make_sink(yaml());
  s->write(std::vector<delivery::Result>{make_result(0)});
  server_->stop();
  std::vector<delivery::Result> during;
  for (int i = 1; i < 20; ++i) during.push_back(make_result(i, i % 2 == 0 ? 0 : 10015));
  EXPECT_THROW(s->write(during), std::runtime_error);
  EXPECT_THROW(s->write(during), std::runtime_error);
  server_->start();
  s->write(during);
  EXPECT_EQ(count(), 20);
}

TEST_F(InfluxSink, Throughput) {
  auto s = make_sink(yaml());
  const int kTotal = write_throughput(*s, "influxdb (gzip)");
  EXPECT_EQ(count(), kTotal);
}

}  // namespace
