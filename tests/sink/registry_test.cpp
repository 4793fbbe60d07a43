#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include "groupwatch/delivery/sink.hpp"
#include "sink/helpers.hpp"

namespace {

using namespace gw_test;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(SinkRegistry, KnowsBuiltInSinksSorted) {
  auto types = delivery::sink_types();
  EXPECT_NE(std::find(types.begin(), types.end(), "ndjson"), types.end());
  EXPECT_NE(std::find(types.begin(), types.end(), "sqlite"), types.end());
  EXPECT_TRUE(std::is_sorted(types.begin(), types.end()));
  EXPECT_NE(delivery::find_sink("sqlite"), nullptr);
  EXPECT_EQ(delivery::find_sink("nope"), nullptr);
}

// The file sinks' preflight: what stands in the way of creating the file is
// named, with the sink's type first.
TEST(SinkRegistry, CheckCreatableNamesWhatStandsInTheWay) {
  TempDir dir;
  dir.write("file", "x");
  auto message = [](const std::string& path) -> std::string {
    try {
      delivery::check_creatable("ndjson", path);
    } catch (const std::runtime_error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_EQ(message(dir.path().string()), "ndjson: '" + dir.path().string() + "' is a directory");
  EXPECT_EQ(message(dir.file("file/sub/out.ndjson")), "ndjson: cannot create '" + (dir.file("file/sub/out.ndjson")) +
                                                          "': '" + dir.file("file") + "' is not a directory");
  EXPECT_EQ(message(dir.file("new/dir/out.ndjson")), "");  // created when the sink opens
  EXPECT_EQ(message(dir.file("file")), "");                // an existing file is appended to
}

TEST(SinkRegistry, UnknownTypeListsKnownTypesAtTheTypeValue) {
  auto p = parse_yaml("- type: ndjson\n  path: a.ndjson\n- type: kafka\n  brokers: x\n");
  ASSERT_EQ(p.diags.error_count(), 1) << p.errors();
  const auto& d = p.diags.all().front();
  EXPECT_THAT(d.message, HasSubstr("unknown sink type 'kafka' (known: "));
  EXPECT_THAT(d.message, HasSubstr("ndjson"));
  EXPECT_THAT(d.message, HasSubstr("sqlite"));
  EXPECT_EQ(d.mark.line, 3);
  EXPECT_EQ(d.mark.col, 9);
  EXPECT_EQ(p.sinks.size(), 1u);  // the good entry is still parsed
}

TEST(SinkRegistry, UnknownKeyIsRejected) {
  auto p = parse_yaml("- type: ndjson\n  path: a.ndjson\n  rotate: yes\n");
  ASSERT_TRUE(p.diags.has_errors());
  EXPECT_THAT(p.errors(), HasSubstr("unknown key 'rotate'"));
  EXPECT_THAT(p.errors(), HasSubstr("test.yaml:3:"));
  EXPECT_TRUE(p.sinks.empty());
}

TEST(SinkRegistry, MissingTypeAndMissingPathAreErrors) {
  auto p = parse_yaml("- path: a.ndjson\n- type: sqlite\n");
  EXPECT_EQ(p.diags.error_count(), 2) << p.errors();
  EXPECT_THAT(p.errors(), HasSubstr("type"));
  EXPECT_THAT(p.errors(), HasSubstr("path"));
  EXPECT_TRUE(p.sinks.empty());
}

TEST(SinkRegistry, ReadsDeliveryKeys) {
  auto p = parse_yaml(
      "- type: ndjson\n  path: a.ndjson\n  batch_size: 7\n  flush_interval: 250ms\n  queue_size: 99\n"
      "  spool_max_bytes: 1MiB\n  when_full: drop_newest\n  retry_min: 1s\n  retry_max: 2m\n");
  ASSERT_FALSE(p.diags.has_errors()) << p.errors();
  ASSERT_EQ(p.sinks.size(), 1u);
  const auto& d = p.sinks[0].delivery;
  EXPECT_EQ(d.batch_size, 7u);
  EXPECT_EQ(d.flush_interval, 250ms);
  EXPECT_EQ(d.queue_size, 99u);
  EXPECT_EQ(d.spool_max_bytes, 1u << 20);
  EXPECT_FALSE(d.drop_oldest);
  EXPECT_EQ(d.retry_min, 1s);
  EXPECT_EQ(d.retry_max, 2min);
}

TEST(SinkRegistry, DefaultsWhenDeliveryKeysAbsent) {
  auto p = parse_yaml("- type: sqlite\n  path: g.db\n");
  ASSERT_EQ(p.sinks.size(), 1u) << p.errors();
  const auto& d = p.sinks[0].delivery;
  EXPECT_EQ(d.batch_size, 500u);
  EXPECT_TRUE(d.drop_oldest);
  EXPECT_EQ(p.sinks[0].spec->describe(), "sqlite g.db");
}

TEST(SinkRegistry, BadDeliveryValuesAreErrors) {
  auto p =
      parse_yaml("- type: ndjson\n  path: a\n  when_full: block\n  batch_size: 0\n  retry_min: 5s\n  retry_max: 1s\n");
  EXPECT_EQ(p.diags.error_count(), 3) << p.errors();
  EXPECT_THAT(p.errors(), HasSubstr("when_full"));
  EXPECT_THAT(p.errors(), HasSubstr("retry_max must not be less than retry_min"));
  EXPECT_TRUE(p.sinks.empty());
}

TEST(SinkRegistry, NamesRepeatedTypesByIndex) {
  auto p = parse_yaml("- type: ndjson\n  path: a\n- type: sqlite\n  path: b\n- type: ndjson\n  path: '-'\n");
  ASSERT_EQ(p.sinks.size(), 3u) << p.errors();
  EXPECT_EQ(p.sinks[0].name, "ndjson#1");
  EXPECT_EQ(p.sinks[1].name, "sqlite");
  EXPECT_EQ(p.sinks[2].name, "ndjson#2");
  EXPECT_EQ(p.sinks[2].spec->describe(), "ndjson stdout");
}

// `help sink TYPE` prints the keys found by running the parser; each key the
// parser reads has a line of help, and the help names no key the parser
// does not read.
TEST(SinkRegistry, EveryKeyTheParserReadsIsDocumentedAndNothingElse) {
  for (auto type : delivery::sink_types()) {
    const auto* f = delivery::find_sink(type);
    ASSERT_NE(f, nullptr);
    auto keys = delivery::sink_keys(type);
    EXPECT_FALSE(keys.own.empty()) << type;
    std::set<std::string> parsed(keys.own.begin(), keys.own.end()), documented;
    for (const auto& h : f->keys) documented.insert(std::string(h.key));
    EXPECT_EQ(parsed, documented) << type;
    std::set<std::string> delivery(keys.delivery.begin(), keys.delivery.end()), delivery_doc;
    for (const auto& [k, t] : delivery::delivery_key_help()) delivery_doc.insert(k);
    EXPECT_EQ(delivery, delivery_doc);
  }
  auto influx = delivery::sink_keys("influxdb");
  for (const char* k : {"url", "version", "database", "org", "bucket", "token", "measurement", "gzip", "timeout"})
    EXPECT_NE(std::find(influx.own.begin(), influx.own.end(), k), influx.own.end()) << k;
}

// And every listed key is really accepted: an entry with it set is never
// told "unknown key".
TEST(SinkRegistry, EveryListedKeyIsAccepted) {
  for (auto type : delivery::sink_types()) {
    for (const auto& k : delivery::sink_keys(type).own) {
      auto p = parse_yaml("- type: " + std::string(type) + "\n  " + k + ": x\n");
      EXPECT_THAT(p.errors(), Not(HasSubstr("unknown key"))) << type << " " << k;
    }
  }
}

TEST(SinkRegistry, AnUnknownKeyListsTheValidOnes) {
  auto p = parse_yaml("- type: influxdb\n  url: http://127.0.0.1:8086\n  database: gw\n  zzz: 1\n");
  EXPECT_THAT(p.errors(), HasSubstr("unknown key 'zzz' in sink; valid keys: "));
  for (const char* k : {"batch_size", "url", "version", "bucket", "token"}) EXPECT_THAT(p.errors(), HasSubstr(k));
}

TEST(SinkRegistry, VersionOneWithoutADatabaseHintsAtVersionTwo) {
  auto p = parse_yaml("- type: influxdb\n  url: http://127.0.0.1:8086\n  bucket: b\n");
  EXPECT_THAT(p.errors(), HasSubstr("database is required for version 1"));
  EXPECT_THAT(p.errors(), HasSubstr("version: 2"));
}

}  // namespace
