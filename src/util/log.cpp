#include "groupwatch/util/log.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include "groupwatch/util/events.hpp"
#include "groupwatch/util/names.hpp"
#include "groupwatch/util/text.hpp"

namespace groupwatch::log {
namespace {

constexpr std::string_view redacted = "[redacted]";

std::atomic<Level> g_level{Level::info};
std::atomic<Format> g_format{Format::logfmt};

std::shared_mutex g_secrets_mutex;
std::vector<std::string> g_secrets;  // longest first, so a secret that contains another wins

std::mutex g_write_mutex;
std::function<void(std::string_view)> g_writer;  // guarded by g_write_mutex

constexpr std::array<std::string_view, 4> levels{"debug", "info", "warn", "error"};
static_assert(util::names_each(levels, Level::error));

std::string_view level_name(Level level) {
  return util::name_of(levels, level, "info");
}

bool needs_quotes(std::string_view v) {
  if (v.empty()) return true;
  for (char ch : v) {
    auto c = static_cast<unsigned char>(ch);
    if (c <= ' ' || c == '=' || c == '"' || c == '\\' || c == 0x7f) return true;
  }
  // Quoted, invalid bytes become U+FFFD: a log line is always valid UTF-8.
  return first_invalid_utf8(v) != std::string_view::npos;
}

void append_logfmt_value(std::string& out, std::string_view v) {
  if (needs_quotes(v)) {
    append_json_string(out, v);  // same escapes logfmt readers expect
  } else {
    out.append(v);
  }
}

// Keys come from code, but a stray space or '=' would break the line format.
void append_logfmt_key(std::string& out, std::string_view k) {
  if (k.empty()) {
    out.append("_");
    return;
  }
  for (char ch : k) {
    auto c = static_cast<unsigned char>(ch);
    out.push_back(c <= ' ' || c == '=' || c == '"' || c >= 0x7f ? '_' : ch);
  }
}

}  // namespace

Field::Field(std::string_view k, double v) : key(k) {
  if (std::isfinite(v)) {
    // Three decimals at most ("117.836", not "117.83581540324428"), no
    // trailing zeros ("200", "0.5").
    value = fmt::format("{:.3f}", v);
    while (value.back() == '0') value.pop_back();
    if (value.back() == '.') value.pop_back();
    if (value == "-0") value = "0";
    number = true;
  } else {
    value = std::isnan(v) ? "NaN" : (v > 0 ? "+Inf" : "-Inf");
  }
}

void configure(Level level, Format format) {
  g_level.store(level, std::memory_order_relaxed);
  g_format.store(format, std::memory_order_relaxed);
}

std::optional<Level> parse_level(std::string_view s) {
  if (s == "debug") return Level::debug;
  if (s == "info") return Level::info;
  if (s == "warn" || s == "warning") return Level::warn;
  if (s == "error") return Level::error;
  return std::nullopt;
}

std::optional<Format> parse_format(std::string_view s) {
  if (s == "logfmt") return Format::logfmt;
  if (s == "json") return Format::json;
  return std::nullopt;
}

bool enabled(Level level) {
  return level >= g_level.load(std::memory_order_relaxed);
}

void add_secret(std::string_view secret) {
  if (secret.size() < min_secret_length) return;
  std::unique_lock lock(g_secrets_mutex);
  if (std::find(g_secrets.begin(), g_secrets.end(), secret) != g_secrets.end()) return;
  g_secrets.emplace_back(secret);
  std::stable_sort(g_secrets.begin(), g_secrets.end(),
                   [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

void clear_secrets() {
  std::unique_lock lock(g_secrets_mutex);
  g_secrets.clear();
}

std::string redact(std::string_view text) {
  std::string out(text);
  std::shared_lock lock(g_secrets_mutex);
  for (const std::string& secret : g_secrets) {
    std::size_t pos = 0;
    while ((pos = out.find(secret, pos)) != std::string::npos) {
      out.replace(pos, secret.size(), redacted);
      pos += redacted.size();
    }
  }
  return out;
}

void set_writer(std::function<void(std::string_view)> writer) {
  std::lock_guard lock(g_write_mutex);
  g_writer = std::move(writer);
}

std::string format_line(Format format, Level level, std::string_view event, std::string_view msg,
                        std::initializer_list<Field> fields, std::string_view time) {
  std::string out;
  out.reserve(128);
  if (format == Format::json) {
    out.append("{\"time\":");
    append_json_string(out, time);
    out.append(",\"level\":");
    append_json_string(out, level_name(level));
    out.append(",\"event\":");
    append_json_string(out, event);
    out.append(",\"msg\":");
    append_json_string(out, redact(msg));
    for (const Field& f : fields) {
      out.push_back(',');
      append_json_string(out, f.key);
      out.push_back(':');
      std::string v = redact(f.value);
      if (f.number && v == f.value) {
        out.append(v);
      } else {
        append_json_string(out, v);
      }
    }
    out.push_back('}');
    return out;
  }
  out.append("time=");
  append_logfmt_value(out, time);
  out.append(" level=");
  out.append(level_name(level));
  out.append(" event=");
  append_logfmt_value(out, event);
  out.append(" msg=");
  append_json_string(out, redact(msg));  // always quoted: messages are prose
  for (const Field& f : fields) {
    out.push_back(' ');
    append_logfmt_key(out, f.key);
    out.push_back('=');
    append_logfmt_value(out, redact(f.value));
  }
  return out;
}

void emit(Level level, std::string_view event, std::string_view msg, std::initializer_list<Field> fields) {
  if (!enabled(level)) return;
  std::string line = format_line(g_format.load(std::memory_order_relaxed), level, event, msg, fields,
                                 format_rfc3339_ms(std::chrono::system_clock::now()));
  std::lock_guard lock(g_write_mutex);
  if (g_writer) {
    g_writer(line);
    return;
  }
  line.push_back('\n');
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

void task_ended(std::exception_ptr e, std::string_view task) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    error(events::task_failed, ex.what(), {{"task", task}});
  } catch (...) {
    error(events::task_failed, "unknown exception", {{"task", task}});
  }
}

}  // namespace groupwatch::log
