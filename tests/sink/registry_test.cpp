#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "groupwatch/sink/sink.hpp"
#include "sink/helpers.hpp"

namespace {

using namespace gw_test;
using ::testing::HasSubstr;

TEST(SinkRegistry, KnowsBuiltInSinksSorted) {
  auto types = sink::sink_types();
  EXPECT_NE(std::find(types.begin(), types.end(), "ndjson"), types.end());
  EXPECT_NE(std::find(types.begin(), types.end(), "sqlite"), types.end());
  EXPECT_TRUE(std::is_sorted(types.begin(), types.end()));
  EXPECT_NE(sink::find_sink("sqlite"), nullptr);
  EXPECT_EQ(sink::find_sink("nope"), nullptr);
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

}  // namespace
