#pragma once
// Structured logging: one event per line on stderr, logfmt or JSON.
// Event names live in events.hpp, one place, so operators and code agree.
#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace groupwatch::log {

enum class Level : std::uint8_t { debug, info, warn, error };
enum class Format : std::uint8_t { logfmt, json };

struct Field {
  std::string_view key;
  std::string value;
  bool number = false;  // written unquoted in JSON
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(v) {}
  Field(std::string_view k, const std::string& v) : key(k), value(v) {}
  Field(std::string_view k, std::int64_t v) : key(k), value(std::to_string(v)), number(true) {}
  Field(std::string_view k, std::uint64_t v) : key(k), value(std::to_string(v)), number(true) {}
  Field(std::string_view k, int v) : key(k), value(std::to_string(v)), number(true) {}
  Field(std::string_view k, unsigned v) : key(k), value(std::to_string(v)), number(true) {}
  Field(std::string_view k, double v);
  Field(std::string_view k, bool v) : key(k), value(v ? "true" : "false"), number(true) {}
};

void configure(Level level, Format format);
std::optional<Level> parse_level(std::string_view);
std::optional<Format> parse_format(std::string_view);
bool enabled(Level level);

/// Registers a string that must never appear in output (secret keys,
/// UserSigs). Any occurrence inside the message or a field value is replaced
/// by "[redacted]". Process-wide and thread-safe; strings shorter than
/// min_secret_length are ignored (they would blank out ordinary text).
void add_secret(std::string_view secret);
inline constexpr std::size_t min_secret_length = 4;
/// Replaces every registered secret inside `text` by "[redacted]".
std::string redact(std::string_view text);
/// Forgets every registered secret (for tests).
void clear_secrets();

/// Where finished lines go (without the trailing newline). Empty: stderr.
/// For tests that capture output; lines are delivered one at a time.
void set_writer(std::function<void(std::string_view line)> writer);

/// Writes one event. `event` is one of the names in events.hpp.
void emit(Level level, std::string_view event, std::string_view msg, std::initializer_list<Field> fields = {});

inline void info(std::string_view event, std::string_view msg, std::initializer_list<Field> f = {}) {
  emit(Level::info, event, msg, f);
}
inline void warn(std::string_view event, std::string_view msg, std::initializer_list<Field> f = {}) {
  emit(Level::warn, event, msg, f);
}
inline void error(std::string_view event, std::string_view msg, std::initializer_list<Field> f = {}) {
  emit(Level::error, event, msg, f);
}
inline void debug(std::string_view event, std::string_view msg, std::initializer_list<Field> f = {}) {
  if (enabled(Level::debug)) emit(Level::debug, event, msg, f);
}

/// The end of a task (a coroutine's completion handler): logs
/// `task.failed` naming `task` when `e` holds an exception, else nothing.
void task_ended(std::exception_ptr e, std::string_view task);

/// Formats one line without writing it (for tests). Applies redaction.
std::string format_line(Format format, Level level, std::string_view event, std::string_view msg,
                        std::initializer_list<Field> fields, std::string_view time);

}  // namespace groupwatch::log
