// The postgres sink against a real PostgreSQL 15 on loopback (started by
// scripts/servers/postgres), through the registry as the daemon uses it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>
#include <sys/resource.h>

#include <chrono>
#include <iostream>
#include <memory>

#include "sink/helpers.hpp"
#include "support/servers.hpp"

namespace {

using namespace gw_test;
using ::testing::HasSubstr;
using ::testing::Not;

// ---- settings (no server needed)

// A sink as written, and what describe() shows of it: where and which
// table, never the password.
void expect_described(const std::string& yaml, const std::string& where, const std::string& table) {
  auto p = parse_yaml(yaml);
  ASSERT_FALSE(p.diags.has_errors()) << p.errors();
  auto d = p.sinks[0].spec->describe();
  EXPECT_THAT(d, HasSubstr(where));
  EXPECT_THAT(d, HasSubstr(table));
  EXPECT_THAT(d, Not(HasSubstr("hunter2")));
}

TEST(PostgresSinkConfig, DescribeShowsWhereButNeverThePassword) {
  expect_described(
      "- type: postgres\n  dsn: host=db.internal port=6543 user=gw password=hunter2-Secret dbname=metrics\n"
      "  table: results\n  schema: gw\n",
      "host=db.internal port=6543 dbname=metrics user=gw", "table gw.results");
}

TEST(PostgresSinkConfig, UriDsnIsAccepted) {
  expect_described("- type: postgres\n  dsn: postgresql://gw:hunter2-Secret@db:5433/metrics?sslmode=require\n",
                   "host=db port=5433 dbname=metrics user=gw", "table samples");
}

TEST(PostgresSinkConfig, BadSettingsAreErrorsWithoutEchoingTheDsn) {
  auto p = parse_yaml("- type: postgres\n  dsn: \"host=db password=hunter2-Secret bogus\"\n  table: \"\"\n");
  EXPECT_EQ(p.diags.error_count(), 2) << p.errors();
  EXPECT_THAT(p.errors(), HasSubstr("not a valid libpq connection string"));
  EXPECT_THAT(p.errors(), HasSubstr("table must be 1 to 63 characters"));
  EXPECT_THAT(p.errors(), Not(HasSubstr("hunter2")));
  EXPECT_TRUE(p.sinks.empty());

  auto missing = parse_yaml("- type: postgres\n  tabel: x\n");
  EXPECT_THAT(missing.errors(), HasSubstr("dsn"));
  EXPECT_THAT(missing.errors(), HasSubstr("unknown key 'tabel'"));
}

// ---- against the real server

class PostgresSink : public RealServerTest<Postgres, postgres_unavailable> {
 protected:
  // Each test gets its own table.
  void prepare() override {
    table_ = "t_" + test_name();
    for (auto& c : table_) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }

  std::string yaml(const std::string& extra = "") const {
    return "- type: postgres\n  dsn: \"" + server_->dsn() + " password=hunter2-Secret\"\n  table: " + table_ + "\n" +
           extra;
  }
  std::string sql(const std::string& q) const { return server_->psql(q); }
  int count(const std::string& where = "true") const {
    return std::stoi(sql("select count(*) from " + table_ + " where " + where));
  }

  std::string table_;
};

TEST_F(PostgresSink, WritesValuesAndNullsOnErrorRows) {
  auto s = make_sink(yaml());
  s->open();
  std::vector<delivery::Result> batch = mixed_results(10);
  batch[5].error_code = -1;  // no answer (network): no count either
  batch[5].online_member_num.reset();
  batch[5].error_info = "timeout";
  s->write(batch);

  EXPECT_EQ(count(), 10);
  EXPECT_EQ(count("online_member_num is null"), 3);  // rows 3, 7 (API error) and 5 (network)
  EXPECT_EQ(sql("select count(*) from " + table_ + " where error_code <> 0 and online_member_num is not null"), "0");
  EXPECT_EQ(sql("select sum(online_member_num) from " + table_), std::to_string(0 + 1 + 2 + 4 + 6 + 8 + 9));
  EXPECT_EQ(sql("select app, sdkappid, online_member_num, error_code, error_info, "
                "(extract(epoch from time) * 1000)::bigint from " +
                table_ + " where group_id = '@TGS#_group2'"),
            "prod-sg|1400000001|2|0||1700000000002");
  EXPECT_EQ(sql("select error_code, error_info from " + table_ + " where group_id = '@TGS#_group7'"),
            "10015|failure 7");
  EXPECT_EQ(sql("select error_code, error_info from " + table_ + " where group_id = '@TGS#_group5'"), "-1|timeout");
  // The column types of the contract.
  EXPECT_EQ(
      sql("select string_agg(column_name || ':' || data_type || ':' || is_nullable, ',' order by ordinal_position) "
          "from information_schema.columns where table_name = '" +
          table_ + "'"),
      "time:timestamp with time zone:NO,app:text:NO,sdkappid:bigint:NO,group_id:text:NO,"
      "online_member_num:bigint:YES,error_code:bigint:NO,error_info:text:NO,group_name:text:YES,labels:jsonb:NO");
  EXPECT_EQ(sql("select count(*) from pg_indexes where tablename = '" + table_ +
                "' and indexdef like '%(group_id, \"time\")'"),
            "1");
}

// A table from the version before names and labels is migrated in place:
// its rows stay, new rows carry the name and labels (labels as jsonb).
TEST_F(PostgresSink, MigratesATableFromBeforeNamesAndKeepsItsRows) {
  sql("create table " + table_ +
      " (time timestamptz NOT NULL, app text NOT NULL, sdkappid bigint NOT NULL, group_id text NOT NULL,"
      " online_member_num bigint NULL, error_code bigint NOT NULL, error_info text NOT NULL,"
      " UNIQUE (group_id, time, app))");
  sql("insert into " + table_ + " values (now(), 'old', 1, '@TGS#_old', 7, 0, '')");
  auto s = make_sink(yaml());
  auto r = make_result(1);
  r.meta = meta_of("VIP 'lounge' 中", {{"tier", "gold"}});
  s->write(std::vector<delivery::Result>{r, make_result(2)});
  EXPECT_EQ(sql("select online_member_num, coalesce(group_name, 'NULL'), labels::text from " + table_ +
                " where group_id = '@TGS#_old'"),
            "7|NULL|{}");
  EXPECT_EQ(sql("select group_name, labels->>'tier' from " + table_ + " where group_id = '@TGS#_group1'"),
            "VIP 'lounge' 中|gold");
  EXPECT_EQ(
      sql("select coalesce(group_name, 'NULL'), labels::text from " + table_ + " where group_id = '@TGS#_group2'"),
      "NULL|{}");
}

TEST_F(PostgresSink, AwkwardStringsRoundTrip) {
  auto s = make_sink(yaml());
  std::vector<delivery::Result> batch;
  const std::vector<std::string> apps = {"prod sg, \"eu\"", "应用-Ω", "a'b\\c;--", "$1 $$"};
  const std::vector<std::string> infos = {"say \"hi\", x=1 \\ y", "多语言 ✓ émoji 🎉", "line1\nline2\ttab",
                                          "'); drop table x;--"};
  for (int i = 0; i < 4; ++i) {
    auto r = make_result(i, 70001);
    r.app = apps[i];
    r.group_id = "@TGS#" + apps[i] + "#" + std::to_string(i);
    r.error_info = infos[i];
    batch.push_back(r);
  }
  s->write(batch);

  auto json = sql("select json_agg(json_build_array(app, group_id, error_info) order by time) from " + table_);
  simdjson::dom::parser parser;
  auto doc = parser.parse(json);
  ASSERT_FALSE(doc.error()) << json;
  std::size_t i = 0;
  for (auto row : doc.get_array()) {
    ASSERT_LT(i, batch.size());
    auto a = row.get_array();
    EXPECT_EQ(std::string(a.at(0).get_string().value()), batch[i].app);
    EXPECT_EQ(std::string(a.at(1).get_string().value()), batch[i].group_id);
    EXPECT_EQ(std::string(a.at(2).get_string().value()), batch[i].error_info);
    ++i;
  }
  EXPECT_EQ(i, batch.size());
}

TEST_F(PostgresSink, ReplayedBatchesAreExactlyOnce) {
  auto s = make_sink(yaml());
  std::vector<delivery::Result> a;
  for (int i = 0; i < 100; ++i) a.push_back(make_result(i));
  s->write(a);
  s->write(a);  // the spool's replay after a crash
  std::vector<delivery::Result> overlap;
  for (int i = 50; i < 150; ++i) overlap.push_back(make_result(i));
  overlap.push_back(make_result(149));  // a duplicate inside one batch
  s->write(overlap);
  EXPECT_EQ(count(), 150);
  EXPECT_EQ(sql("select count(distinct group_id) from " + table_), "150");

  // Same group and time but another app is another row.
  auto other = make_result(0);
  other.app = "prod-us";
  s->write(std::span(&other, 1));
  EXPECT_EQ(count(), 151);

  // A batch bigger than one INSERT statement (1000 rows) is still one transaction.
  std::vector<delivery::Result> big;
  for (int i = 0; i < 2500; ++i) big.push_back(make_result(1000 + i));
  s->write(big);
  s->write(big);
  EXPECT_EQ(count(), 151 + 2500);
}

TEST_F(PostgresSink, CreatesSchemaAndQuotedTableName) {
  auto s =
      make_sink("- type: postgres\n  dsn: \"" + server_->dsn() + "\"\n  schema: gw_data\n  table: \"My Samples\"\n");
  s->open();
  s->write(std::vector<delivery::Result>{make_result(1), make_result(2, 10010)});
  EXPECT_EQ(sql("select count(*), count(online_member_num) from gw_data.\"My Samples\""), "2|1");
  // No timescaledb here: a plain table, and that is no error.
  EXPECT_EQ(sql("select count(*) from pg_extension where extname = 'timescaledb'"), "0");
  // A second sink on the same table finds it in place.
  auto again =
      make_sink("- type: postgres\n  dsn: \"" + server_->dsn() + "\"\n  schema: gw_data\n  table: \"My Samples\"\n");
  again->write(std::vector<delivery::Result>{make_result(3)});
  EXPECT_EQ(sql("select count(*) from gw_data.\"My Samples\""), "3");
}

TEST_F(PostgresSink, OutageThrowsWithoutThePasswordAndRecovers) {
  auto s = make_sink(yaml());
  s->open();
  s->write(std::vector<delivery::Result>{make_result(0)});

  server_->stop(/*crash=*/true);
  std::vector<delivery::Result> during;
  for (int i = 1; i < 20; ++i) during.push_back(make_result(i));
  try {
    s->write(during);
    ADD_FAILURE() << "a write to a stopped server succeeded";
  } catch (const std::exception& e) {
    EXPECT_THAT(e.what(), HasSubstr("postgres (host=127.0.0.1 port=" + std::to_string(server_->port())));
    EXPECT_THAT(e.what(), HasSubstr("cannot connect"));
    EXPECT_THAT(e.what(), Not(HasSubstr("hunter2")));
  }
  EXPECT_THROW(s->write(during), std::runtime_error);  // still down: fails again, fast

  server_->start();
  // The first write after the restart succeeds (reconnects by itself); the
  // replay of the failed batch lands exactly once.
  s->write(during);
  s->write(during);
  EXPECT_EQ(count(), 20);

  // A server restart under a live connection is no failure either.
  server_->stop(/*crash=*/false);
  server_->start();
  s->write(std::vector<delivery::Result>{make_result(20)});
  EXPECT_EQ(count(), 21);
}

TEST_F(PostgresSink, OpenFailsWhenTheServerIsUnreachable) {
  auto port = free_port();
  auto s = make_sink("- type: postgres\n  dsn: postgresql://gw:hunter2-Secret@127.0.0.1:" + std::to_string(port) +
                     "/postgres\n");
  try {
    s->open();
    ADD_FAILURE() << "open succeeded";
  } catch (const std::exception& e) {
    EXPECT_THAT(e.what(), HasSubstr("cannot connect"));
    EXPECT_THAT(e.what(), Not(HasSubstr("hunter2")));
  }
}

TEST_F(PostgresSink, Throughput) {
  auto s = make_sink(yaml());
  s->open();
  const int kTotal = write_throughput(*s, "postgres");
  EXPECT_EQ(count(), kTotal);
  EXPECT_EQ(count("online_member_num is null"), kTotal / 10);
}

}  // namespace
