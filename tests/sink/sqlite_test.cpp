#include <sqlite3.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "sink/helpers.hpp"

namespace {

using namespace gw_test;
using ::testing::HasSubstr;

class Db {
 public:
  explicit Db(const std::string& path) { EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK); }
  ~Db() { sqlite3_close(db_); }
  // Rows as "a|b|c" strings, NULL as "NULL".
  std::vector<std::string> rows(const std::string& sql) {
    std::vector<std::string> out;
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sqlite3_errmsg(db_);
    while (st != nullptr && sqlite3_step(st) == SQLITE_ROW) {
      std::string row;
      for (int i = 0; i < sqlite3_column_count(st); ++i) {
        if (i > 0) row += "|";
        auto t = sqlite3_column_text(st, i);
        row += t ? reinterpret_cast<const char*>(t) : "NULL";
      }
      out.push_back(row);
    }
    sqlite3_finalize(st);
    return out;
  }
  // The columns of the table's one index, in order; empty (and a failure)
  // when it has none or several.
  std::vector<std::string> only_index_columns() {
    auto indexes = rows("SELECT name FROM pragma_index_list('samples')");
    EXPECT_EQ(indexes.size(), 1u) << "indexes of samples";
    if (indexes.size() != 1) return {};
    return rows("SELECT name FROM pragma_index_info('" + indexes[0] + "') ORDER BY seqno");
  }

 private:
  sqlite3* db_ = nullptr;
};

TEST(SqliteSink, StoresRowsWithNullCountForErrors) {
  TempDir dir;
  auto s = make_sink("- type: sqlite\n  path: db/g.db\n", dir.path());  // relative to state_dir
  ASSERT_TRUE(s);
  s->open();
  s->write(std::vector<delivery::Result>{make_result(1), make_result(2, 10007)});
  Db db(dir.file("db/g.db"));
  auto rows = db.rows(
      "SELECT time_ms, time, app, sdkappid, group_id, online_member_num, error_code, error_info FROM samples "
      "ORDER BY time_ms");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0], "1700000000001|2023-11-14T22:13:20.001Z|prod-sg|1400000001|@TGS#_group1|1|0|");
  EXPECT_EQ(rows[1], "1700000000002|2023-11-14T22:13:20.002Z|prod-sg|1400000001|@TGS#_group2|NULL|10007|failure 2");
}

TEST(SqliteSink, SchemaIsWalWithUniqueKeyAndReplayIsIdempotent) {
  TempDir dir;
  std::string path = dir.file("g.db");
  auto s = make_sink("- type: sqlite\n  path: " + path + "\n", dir.path());
  ASSERT_TRUE(s);
  s->open();
  std::vector<delivery::Result> batch{make_result(1), make_result(2), make_result(3)};
  s->write(batch);
  s->write(batch);  // a spool replay after a crash
  Db db(path);
  EXPECT_EQ(db.rows("SELECT count(*) FROM samples"), std::vector<std::string>{"3"});
  EXPECT_EQ(db.rows("PRAGMA journal_mode"), std::vector<std::string>{"wal"});
  auto cols = db.rows("SELECT name FROM pragma_table_info('samples') ORDER BY cid");
  std::vector<std::string> want{"time_ms",           "time",       "app",        "sdkappid",   "group_id",
                                "online_member_num", "error_code", "error_info", "group_name", "labels"};
  EXPECT_EQ(cols, want);
  // One index, the unique key, led by the time: rows arrive in time order
  // and land at its end (with group_id first, each row dirtied a page).
  EXPECT_EQ(db.only_index_columns(), (std::vector<std::string>{"time_ms", "group_id", "app"}));
  // It serves retention and a group's time-bounded history.
  auto plan = db.rows("EXPLAIN QUERY PLAN SELECT * FROM samples WHERE group_id = 'x' AND time_ms > 5");
  ASSERT_FALSE(plan.empty());
  EXPECT_THAT(plan[0], HasSubstr("USING INDEX"));
  EXPECT_THAT(plan[0], HasSubstr("time_ms>?"));
}

// A table written by the version before names and labels is migrated in
// place: its rows stay, new rows carry the name and labels.
TEST(SqliteSink, MigratesATableFromBeforeNamesAndKeepsItsRows) {
  TempDir dir;
  std::string path = dir.file("g.db");
  {
    Db old(path);
    old.rows(
        "CREATE TABLE samples (time_ms INTEGER NOT NULL, time TEXT NOT NULL, app TEXT NOT NULL, sdkappid INTEGER NOT "
        "NULL, group_id TEXT NOT NULL, online_member_num INTEGER, error_code INTEGER NOT NULL, error_info TEXT NOT "
        "NULL, UNIQUE (group_id, time_ms, app))");
    old.rows("INSERT INTO samples VALUES (1600000000000, '2020-09-13T12:26:40.000Z', 'old', 1, '@TGS#_old', 7, 0, '')");
  }
  auto s = make_sink("- type: sqlite\n  path: " + path + "\n", dir.path());
  ASSERT_TRUE(s);
  s->open();
  auto r = make_result(1);
  r.meta = meta_of("VIP lounge", {{"tier", "gold"}});
  s->write(std::vector<delivery::Result>{r, make_result(2)});
  Db db(path);
  EXPECT_EQ(db.rows("SELECT group_id, online_member_num, group_name, labels FROM samples ORDER BY time_ms"),
            (std::vector<std::string>{"@TGS#_old|7|NULL|{}", "@TGS#_group1|1|VIP lounge|{\"tier\":\"gold\"}",
                                      "@TGS#_group2|2|NULL|{}"}));
  // Its unique key stays as it was made.
  EXPECT_EQ(db.only_index_columns(), (std::vector<std::string>{"group_id", "time_ms", "app"}));
}

TEST(SqliteSink, RetentionDeletesOldRowsAtOpen) {
  TempDir dir;
  std::string path = dir.file("g.db");
  auto now = std::chrono::system_clock::now();
  auto old_r = make_result(1);
  old_r.time = now - 3h;
  auto new_r = make_result(2);
  new_r.time = now - 1min;
  {
    auto s = make_sink("- type: sqlite\n  path: " + path + "\n", dir.path());
    s->open();
    s->write(std::vector<delivery::Result>{old_r, new_r});
  }
  auto s = make_sink("- type: sqlite\n  path: " + path + "\n  retention: 1h\n", dir.path());
  s->open();
  Db db(path);
  EXPECT_EQ(db.rows("SELECT group_id FROM samples"), std::vector<std::string>{"@TGS#_group2"});
}

TEST(SqliteSink, PreflightAndOpenExplainAnUnusablePath) {
  TempDir dir;
  std::ofstream(dir.file("file")) << "x";
  auto p = parse_yaml("- type: sqlite\n  path: file/g.db\n  retention: 7d\n");
  ASSERT_EQ(p.sinks.size(), 1u) << p.errors();
  EXPECT_EQ(p.sinks[0].spec->describe(), "sqlite file/g.db (retention 7d)");
  const std::string why = thrown_by([&] { p.sinks[0].spec->preflight(delivery::SinkContext{dir.path(), "sqlite"}); });
  EXPECT_THAT(why, HasSubstr(dir.file("file")));
  EXPECT_THAT(why, HasSubstr("not a directory"));
  auto s = p.sinks[0].spec->create(delivery::SinkContext{dir.path(), "sqlite"});
  const std::string why_open = thrown_by([&] { s->open(); });
  EXPECT_THAT(why_open, HasSubstr("g.db"));
}

TEST(SqliteSink, WorksBehindAFanout) {
  TempDir dir;
  auto p = parse_yaml("- type: sqlite\n  path: g.db\n  batch_size: 7\n  flush_interval: 10ms\n");
  ASSERT_EQ(p.sinks.size(), 1u) << p.errors();
  {
    delivery::Fanout f(std::move(p.sinks), dir.path());
    for (int i = 0; i < 50; ++i) f.push(make_result(i));
    EXPECT_TRUE(f.stop(10s));
  }
  Db db(dir.file("g.db"));
  EXPECT_EQ(db.rows("SELECT count(*) FROM samples"), std::vector<std::string>{"50"});
}

}  // namespace
