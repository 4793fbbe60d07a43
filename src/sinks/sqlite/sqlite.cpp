// sqlite: one row per result in table `samples`, one transaction per batch.
// UNIQUE(time_ms, group_id, app) with INSERT OR IGNORE makes the spool's
// replay after a crash exactly-once here.
#include "sinks/sqlite/sqlite.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "groupwatch/util/text.hpp"

namespace groupwatch::sinks::sqlite {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::system_clock;

// The UNIQUE constraint's index leads with time_ms: results arrive in time
// order, so a batch's rows land at the index's right edge, on a few pages.
// (With group_id first, each row dirtied a page of its own, which SQLite
// wrote to its WAL at every commit: four times the CPU per row.) The same
// index serves retention and time-bounded queries; a query for one group
// names a time range, or the operator adds an index on group_id (see
// docs/operations.md). Tables made before keep their indexes.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS samples (
  time_ms INTEGER NOT NULL,
  time TEXT NOT NULL,
  app TEXT NOT NULL,
  sdkappid INTEGER NOT NULL,
  group_id TEXT NOT NULL,
  online_member_num INTEGER,
  error_code INTEGER NOT NULL,
  error_info TEXT NOT NULL,
  group_name TEXT,
  labels TEXT NOT NULL DEFAULT '{}',
  UNIQUE (time_ms, group_id, app)
);
)sql";

// Columns added after the first version, added in place to an older table
// (existing rows get NULL / '{}').
constexpr std::pair<const char*, const char*> kAddedColumns[] = {
    {"group_name", "ALTER TABLE samples ADD COLUMN group_name TEXT"},
    {"labels", "ALTER TABLE samples ADD COLUMN labels TEXT NOT NULL DEFAULT '{}'"},
};

constexpr const char* kInsert =
    "INSERT OR IGNORE INTO samples (time_ms, time, app, sdkappid, group_id, online_member_num, error_code, "
    "error_info, group_name, labels) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

std::string resolve(const std::string& path, const std::string& state_dir) {
  if (path.empty() || path.front() == '/' || state_dir.empty()) return path;
  return (fs::path(state_dir) / path).string();
}

class SqliteSink final : public delivery::Sink {
 public:
  SqliteSink(Settings s, std::string path) : s_(std::move(s)), path_(std::move(path)) {}
  ~SqliteSink() override { close(); }

  void open() override { ensure_open(); }

  void write(std::span<const delivery::Result> batch) override {
    ensure_open();
    try {
      exec("BEGIN IMMEDIATE");
      for (auto& r : batch) insert(r);
      exec("COMMIT");
    } catch (...) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      // Start from a fresh connection next time (the file may have moved,
      // the disk may be back).
      close();
      throw;
    }
    if (s_.retention.count() > 0 && Clock::now() - last_prune_ >= s_.prune_every) prune();
  }

 private:
  [[noreturn]] void fail(const std::string& what) {
    std::string msg = "sqlite '" + path_ + "': " + what;
    if (db_ != nullptr) msg += ": " + std::string(sqlite3_errmsg(db_));
    throw std::runtime_error(msg);
  }

  void exec(const char* sql) {
    if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) fail(std::string("cannot run ") + sql);
  }

  void ensure_open() {
    if (db_ != nullptr) return;
    std::error_code ec;
    auto dir = fs::path(path_).parent_path();
    if (!dir.empty()) fs::create_directories(dir, ec);
    if (sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        nullptr) != SQLITE_OK) {
      std::string msg = "sqlite '" + path_ + "': cannot open: " + (db_ ? sqlite3_errmsg(db_) : "out of memory");
      close();
      throw std::runtime_error(msg);
    }
    try {
      sqlite3_busy_timeout(db_, 5000);
      exec("PRAGMA journal_mode=WAL");
      exec("PRAGMA synchronous=NORMAL");
      exec(kSchema);
      migrate();
      if (sqlite3_prepare_v3(db_, kInsert, -1, SQLITE_PREPARE_PERSISTENT, &insert_, nullptr) != SQLITE_OK) {
        fail("cannot prepare insert");
      }
      if (s_.retention.count() > 0) prune();
    } catch (...) {
      close();
      throw;
    }
  }

  void migrate() {
    std::vector<std::string> have;
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, "PRAGMA table_info(samples)", -1, &st, nullptr) != SQLITE_OK)
      fail("cannot read schema");
    while (sqlite3_step(st) == SQLITE_ROW) have.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 1)));
    sqlite3_finalize(st);
    for (const auto& [column, sql] : kAddedColumns) {
      if (std::find(have.begin(), have.end(), column) == have.end()) exec(sql);
    }
  }

  void insert(const delivery::Result& r) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(r.time.time_since_epoch()).count();
    std::string& time = time_;  // kept: no string of its own per row
    time.clear();
    append_rfc3339_ms(time, r.time);
    // Every text bound here outlives the step below, and every parameter is
    // bound again before the next one: SQLite need not copy them.
    sqlite3_bind_int64(insert_, 1, ms);
    sqlite3_bind_text(insert_, 2, time.data(), static_cast<int>(time.size()), SQLITE_STATIC);
    sqlite3_bind_text(insert_, 3, r.app.data(), static_cast<int>(r.app.size()), SQLITE_STATIC);
    sqlite3_bind_int64(insert_, 4, static_cast<sqlite3_int64>(r.sdkappid));
    sqlite3_bind_text(insert_, 5, r.group_id.data(), static_cast<int>(r.group_id.size()), SQLITE_STATIC);
    if (r.error_code == 0 && r.online_member_num) {
      sqlite3_bind_int64(insert_, 6, static_cast<sqlite3_int64>(*r.online_member_num));
    } else {
      sqlite3_bind_null(insert_, 6);
    }
    sqlite3_bind_int64(insert_, 7, r.error_code);
    sqlite3_bind_text(insert_, 8, r.error_info.data(), static_cast<int>(r.error_info.size()), SQLITE_STATIC);
    const std::string& name = config::group_name(r.meta);
    if (name.empty()) {
      sqlite3_bind_null(insert_, 9);
    } else {
      sqlite3_bind_text(insert_, 9, name.data(), static_cast<int>(name.size()), SQLITE_STATIC);
    }
    labels_.clear();
    delivery::append_labels_json(labels_, r.meta);
    sqlite3_bind_text(insert_, 10, labels_.data(), static_cast<int>(labels_.size()), SQLITE_STATIC);
    int rc = sqlite3_step(insert_);
    sqlite3_reset(insert_);
    if (rc != SQLITE_DONE) fail("cannot insert");
  }

  void prune() {
    auto cutoff =
        std::chrono::duration_cast<std::chrono::milliseconds>((Clock::now() - s_.retention).time_since_epoch());
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, "DELETE FROM samples WHERE time_ms < ?", -1, &st, nullptr) != SQLITE_OK) {
      fail("cannot prepare retention delete");
    }
    sqlite3_bind_int64(st, 1, cutoff.count());
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) fail("cannot delete old rows");
    last_prune_ = Clock::now();
  }

  void close() {
    if (insert_ != nullptr) sqlite3_finalize(insert_);
    insert_ = nullptr;
    if (db_ != nullptr) sqlite3_close_v2(db_);
    db_ = nullptr;
  }

  Settings s_;
  std::string path_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
  std::string time_;    // a row's time text, reused
  std::string labels_;  // the row's labels as JSON (reused)
  Clock::time_point last_prune_;
};

class SqliteSpec final : public delivery::SpecOf<Settings> {
 public:
  using SpecOf::SpecOf;
  std::string describe() const override {
    std::string d = "sqlite " + s_.path;
    if (s_.retention.count() > 0) d += " (retention " + format_duration(s_.retention) + ")";
    return d;
  }
  void preflight(const delivery::SinkContext& ctx) const override {
    delivery::check_creatable("sqlite", resolve(s_.path, ctx.state_dir));
  }
  std::unique_ptr<delivery::Sink> create(const delivery::SinkContext& ctx) const override {
    return std::make_unique<SqliteSink>(s_, resolve(s_.path, ctx.state_dir));
  }
};

}  // namespace

std::unique_ptr<delivery::SinkSpec> parse(config::MapReader& r) {
  return delivery::make_spec<SqliteSpec, Settings>(r, [&](Settings& s) {
    r.string("path", s.path, true);
    if (r.has("path") && s.path.empty()) r.error_at("path", "path must not be empty");
    r.duration("retention", s.retention);
  });
}

}  // namespace groupwatch::sinks::sqlite

GW_REGISTER_SINK(sqlite, "one row per result in an SQLite database (WAL mode, optional retention)",
                 {{"path", "database file, relative to state_dir (required)"},
                  {"retention", "delete rows older than this, e.g. 30d (default 0: keep all)"}});
