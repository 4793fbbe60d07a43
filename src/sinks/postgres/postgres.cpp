// postgres: one row per result, one transaction per batch of multi-row
// INSERT ... ON CONFLICT DO NOTHING statements. UNIQUE (group_id, time, app)
// makes the delivery layer's replay after an outage or a crash exactly-once.
// The table becomes a TimescaleDB hypertable when that extension is installed.
#include "sinks/postgres/postgres.hpp"

#include <algorithm>
#include <mutex>
#include <stdexcept>

#include "groupwatch/util/events.hpp"
#include "groupwatch/util/log.hpp"
#include "groupwatch/util/text.hpp"

#if __has_include(<libpq-fe.h>)
#include <libpq-fe.h>
#define GW_HAVE_LIBPQ 1
#endif

namespace groupwatch::sinks::postgres {

std::string quote_identifier(const std::string& name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

#ifdef GW_HAVE_LIBPQ
namespace {

// A statement holds at most this many rows: 9 parameters a row stays far
// below the protocol's 65535 parameters per statement.
constexpr std::size_t kRowsPerStatement = 1000;
constexpr int kColumns = 9;

struct ConninfoDeleter {
  void operator()(PQconninfoOption* o) const { PQconninfoFree(o); }
};
using Conninfo = std::unique_ptr<PQconninfoOption, ConninfoDeleter>;

Conninfo parse_conninfo(const std::string& dsn) {
  char* err = nullptr;
  Conninfo opts(PQconninfoParse(dsn.c_str(), &err));
  // libpq's message may quote a piece of the string, which may be the
  // password: it is never shown.
  if (err != nullptr) PQfreemem(err);
  return opts;
}

std::string option(const Conninfo& opts, std::string_view key) {
  for (auto* o = opts.get(); o != nullptr && o->keyword != nullptr; ++o) {
    if (key == o->keyword) return o->val != nullptr ? o->val : "";
  }
  return "";
}

/// Where the DSN points, without credentials: "host=db port=5432 dbname=x user=gw".
std::string describe_dsn(const std::string& dsn) {
  auto opts = parse_conninfo(dsn);
  if (!opts) return "(invalid dsn)";
  std::string out;
  for (auto key : {"host", "hostaddr", "port", "dbname", "user"}) {
    auto v = option(opts, key);
    if (v.empty()) continue;
    if (!out.empty()) out += ' ';
    out += std::string(key) + "=" + v;
  }
  return out.empty() ? "(libpq defaults)" : out;
}

class PostgresSink final : public delivery::Sink {
 public:
  explicit PostgresSink(Settings s) : s_(std::move(s)), where_(describe_dsn(s_.dsn)) {
    target_ =
        s_.schema.empty() ? quote_identifier(s_.table) : quote_identifier(s_.schema) + "." + quote_identifier(s_.table);
    // Errors from libpq or the server never carry the password, but a
    // misconfigured DSN could end up in one; keep both out of every log line.
    log::add_secret(s_.dsn);
    if (auto opts = parse_conninfo(s_.dsn)) log::add_secret(option(opts, "password"));
  }
  ~PostgresSink() override { disconnect(); }

  void open() override { ensure_connected(); }

  // PQcancel is safe from another thread; the cancel object lives as long as
  // the connection, under cancel_mu_.
  void cancel() override {
    std::lock_guard lk(cancel_mu_);
    if (cancel_ == nullptr) return;
    char err[256];
    (void)PQcancel(cancel_, err, sizeof err);
  }

  void write(std::span<const delivery::Result> batch) override {
    if (batch.empty()) return;
    ensure_connected();
    begin();
    try {
      for (std::size_t i = 0; i < batch.size(); i += kRowsPerStatement) {
        insert(batch.subspan(i, std::min(kRowsPerStatement, batch.size() - i)));
      }
      exec("COMMIT");
    } catch (...) {
      if (PQstatus(conn_) == CONNECTION_OK) {
        PQclear(PQexec(conn_, "ROLLBACK"));
      } else {
        disconnect();  // reconnect on the next write
      }
      throw;
    }
  }

 private:
  // A connection the server dropped (restart, failover, idle kill) still
  // says CONNECTION_OK until it is used: when BEGIN finds it dead, nothing
  // is lost by connecting again at once.
  void begin() {
    try {
      exec("BEGIN");
      return;
    } catch (const std::exception&) {
      if (PQstatus(conn_) == CONNECTION_OK) throw;
    }
    disconnect();
    ensure_connected();
    exec("BEGIN");
  }

  [[noreturn]] void fail(const std::string& what, const char* detail) {
    std::string msg = "postgres (" + where_ + "): " + what;
    if (detail != nullptr && *detail != '\0') {
      std::string d(detail);
      while (!d.empty() && (d.back() == '\n' || d.back() == ' ')) d.pop_back();
      msg += ": " + d;
    }
    throw std::runtime_error(log::redact(msg));
  }

  void disconnect() {
    {
      std::lock_guard lk(cancel_mu_);
      if (cancel_ != nullptr) PQfreeCancel(cancel_);
      cancel_ = nullptr;
    }
    if (conn_ != nullptr) PQfinish(conn_);
    conn_ = nullptr;
  }

  void ensure_connected() {
    if (conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK) return;
    disconnect();
    // Processed in order, later keys win: the DSN (expanded from "dbname")
    // overrides these defaults when it sets them itself.
    const char* keys[] = {"connect_timeout", "application_name", "dbname", nullptr};
    const char* values[] = {"5", "groupwatch", s_.dsn.c_str(), nullptr};
    conn_ = PQconnectdbParams(keys, values, 1);
    if (conn_ == nullptr) throw std::runtime_error("postgres (" + where_ + "): cannot connect: out of memory");
    if (PQstatus(conn_) != CONNECTION_OK) {
      std::string detail = PQerrorMessage(conn_);
      disconnect();
      fail("cannot connect", detail.c_str());
    }
    {
      std::lock_guard lk(cancel_mu_);
      cancel_ = PQgetCancel(conn_);
    }
    // libpq prints server notices to stderr by itself; they go to the log.
    PQsetNoticeProcessor(conn_, &PostgresSink::on_notice, nullptr);
    try {
      exec("SET client_min_messages = warning");
      if (!schema_ready_) create_schema();
    } catch (...) {
      disconnect();
      throw;
    }
  }

  static void on_notice(void*, const char* message) {
    std::string m = message != nullptr ? message : "";
    while (!m.empty() && m.back() == '\n') m.pop_back();
    log::debug(events::sink_failed, "postgres: server notice", {{"notice", log::redact(m)}});
  }

  void exec(const std::string& sql) {
    PGresult* res = PQexec(conn_, sql.c_str());
    auto st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      std::string detail = PQerrorMessage(conn_);
      PQclear(res);
      fail("cannot run " + sql.substr(0, sql.find_first_of("(\n")), detail.c_str());
    }
    PQclear(res);
  }

  bool query_bool(const std::string& sql) {
    PGresult* res = PQexec(conn_, sql.c_str());
    bool ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0;
    PQclear(res);
    return ok;
  }

  void create_schema() {
    if (!s_.schema.empty()) exec("CREATE SCHEMA IF NOT EXISTS " + quote_identifier(s_.schema));
    exec("CREATE TABLE IF NOT EXISTS " + target_ +
         " (time timestamptz NOT NULL, app text NOT NULL, sdkappid bigint NOT NULL, group_id text NOT NULL,"
         " online_member_num bigint NULL, error_code bigint NOT NULL, error_info text NOT NULL,"
         " group_name text NULL, labels jsonb NOT NULL DEFAULT '{}', UNIQUE (group_id, time, app))");
    // Columns added after the first version: an older table gets them in
    // place, its rows kept (NULL names, empty labels).
    exec("ALTER TABLE " + target_ +
         " ADD COLUMN IF NOT EXISTS group_name text NULL, ADD COLUMN IF NOT EXISTS labels jsonb NOT NULL DEFAULT '{}'");
    exec("CREATE INDEX IF NOT EXISTS " + quote_identifier(s_.table + "_group_id_time_idx") + " ON " + target_ +
         " (group_id, time)");
    if (query_bool("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")) make_hypertable();
    schema_ready_ = true;
  }

  // Best effort: a plain table works as well, only slower to query at scale.
  void make_hypertable() {
    std::string literal = "'";
    for (char c : target_) {
      if (c == '\'') literal += '\'';
      literal += c;
    }
    literal += "'";
    PGresult* res = PQexec(
        conn_,
        ("SELECT create_hypertable(" + literal + ", 'time', if_not_exists => true, migrate_data => true)").c_str());
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
      std::string detail = PQerrorMessage(conn_);
      log::warn(events::sink_failed, "postgres: cannot make the table a TimescaleDB hypertable; using a plain table",
                {{"table", target_}, {"error", log::redact(detail)}});
    }
    PQclear(res);
  }

  void insert(std::span<const delivery::Result> rows) {
    std::string sql =
        "INSERT INTO " + target_ +
        " (time, app, sdkappid, group_id, online_member_num, error_code, error_info, group_name, labels) VALUES ";
    sql.reserve(sql.size() + rows.size() * 48 + 64);
    std::vector<std::string> text;
    text.reserve(rows.size() * 5);
    std::vector<const char*> params;
    params.reserve(rows.size() * kColumns);
    int n = 0;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const auto& r = rows[i];
      sql += i == 0 ? "(" : ",(";
      for (int c = 0; c < kColumns; ++c) {
        sql += c == 0 ? "$" : ",$";
        sql += std::to_string(++n);
      }
      sql += ')';
      // The strings must not move while params points into them.
      text.push_back(format_rfc3339_ms(r.time));
      params.push_back(text.back().c_str());
      params.push_back(r.app.c_str());
      text.push_back(std::to_string(r.sdkappid));
      params.push_back(text.back().c_str());
      params.push_back(r.group_id.c_str());
      if (r.error_code == 0 && r.online_member_num) {
        text.push_back(std::to_string(*r.online_member_num));
        params.push_back(text.back().c_str());
      } else {
        params.push_back(nullptr);  // SQL NULL
      }
      text.push_back(std::to_string(r.error_code));
      params.push_back(text.back().c_str());
      params.push_back(r.error_info.c_str());
      const std::string& name = config::group_name(r.meta);
      params.push_back(name.empty() ? nullptr : name.c_str());
      text.emplace_back();
      delivery::append_labels_json(text.back(), r.meta);
      params.push_back(text.back().c_str());
    }
    sql += " ON CONFLICT DO NOTHING";
    PGresult* res = PQexecParams(conn_, sql.c_str(), n, nullptr, params.data(), nullptr, nullptr, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
      std::string detail = PQerrorMessage(conn_);
      PQclear(res);
      fail("cannot insert into " + target_, detail.c_str());
    }
    PQclear(res);
  }

  Settings s_;
  std::string where_;
  std::string target_;
  PGconn* conn_ = nullptr;
  std::mutex cancel_mu_;
  PGcancel* cancel_ = nullptr;
  bool schema_ready_ = false;
};

class PostgresSpec final : public delivery::SpecOf<Settings> {
 public:
  using SpecOf::SpecOf;
  std::string describe() const override {
    std::string table = s_.schema.empty() ? s_.table : s_.schema + "." + s_.table;
    return "postgres " + describe_dsn(s_.dsn) + " table " + table;
  }
  std::unique_ptr<delivery::Sink> create(const delivery::SinkContext&) const override {
    return std::make_unique<PostgresSink>(s_);
  }
};

}  // namespace

std::unique_ptr<delivery::SinkSpec> parse(config::MapReader& r) {
  return delivery::make_spec<PostgresSpec, Settings>(r, [&](Settings& s) {
    if (r.secret("dsn", s.dsn, true)) {
      if (s.dsn.empty()) {
        r.error_at("dsn", "dsn must not be empty (a libpq connection string or postgresql:// URI)");
      } else if (!parse_conninfo(s.dsn)) {
        r.error_at("dsn", "dsn is not a valid libpq connection string (key=value pairs) or postgresql:// URI");
      }
    }
    auto name_ok = [&](std::string_view key, const std::string& v) {
      if (v.empty() || v.size() > 63 || v.find('\0') != std::string::npos) {
        r.error_at(key, std::string(key) + " must be 1 to 63 characters");
      }
    };
    if (r.string("table", s.table)) name_ok("table", s.table);
    if (r.string("schema", s.schema)) name_ok("schema", s.schema);
  });
}

#else  // built without libpq

std::unique_ptr<delivery::SinkSpec> parse(config::MapReader& r) {
  r.error_at("type", "this groupwatch was built without libpq: the postgres sink is unavailable");
  return nullptr;
}

#endif

}  // namespace groupwatch::sinks::postgres

GW_REGISTER_SINK(postgres,
                 "one row per result in a PostgreSQL table (exactly-once, TimescaleDB hypertable "
                 "when available)",
                 {{"dsn", "libpq connection string or postgresql:// URI (required; a secret, never logged)"},
                  {"table", "table name, created when missing (default samples)"},
                  {"schema", "schema of the table (default: the search_path's first)"}});
