#pragma once
// Small text helpers shared by every stage: durations as operators write
// them, RFC 3339 timestamps, JSON string escaping, numbers.
#include <charconv>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace groupwatch {

using Millis = std::chrono::milliseconds;

/// Parses "250ms", "5s", "4m", "1h", "1d" (also combined: "1m30s").
/// Returns nullopt on anything else, including negative or overflowing values.
std::optional<Millis> parse_duration(std::string_view text);

/// The shortest exact form of `d` in the same notation ("4m", "1500ms").
std::string format_duration(Millis d);

/// UTC, RFC 3339 with milliseconds: 2026-11-25T16:40:00.123Z
std::string format_rfc3339_ms(std::chrono::system_clock::time_point t);
/// The same, appended to `out` (no string of its own: a sink writes one a result).
void append_rfc3339_ms(std::string& out, std::chrono::system_clock::time_point t);

/// The length of the valid UTF-8 sequence at s[i] (1 for ASCII), or 0 when
/// none starts there (overlong forms, surrogates, code points beyond
/// U+10FFFF, a stray continuation byte, truncation).
std::size_t utf8_sequence_length(std::string_view s, std::size_t i);
/// The offset of the first byte that is not part of a valid UTF-8 sequence,
/// or npos when `s` is valid UTF-8.
std::size_t first_invalid_utf8(std::string_view s);

/// Appends `s` as a JSON string literal (with quotes). Control characters are
/// escaped, bytes >= 0x80 pass through (valid UTF-8 stays valid); invalid
/// UTF-8 sequences are replaced by U+FFFD so the output is always valid JSON.
void append_json_string(std::string& out, std::string_view s);

/// Appends an integer in decimal, without a string of its own.
template <class Int>
void append_int(std::string& out, Int v) {
  char digits[24];  // any 64-bit integer, with its sign
  out.append(digits, std::to_chars(digits, digits + sizeof digits, v).ptr);
}
std::string json_string(std::string_view s);

/// The whole of `text` as a number (std::from_chars's syntax: no sign for an
/// unsigned T, no '+', no spaces): nullopt when it is empty, holds anything
/// more, or does not fit T. `out_of_range`, when given, tells that last case apart.
template <class Number>
std::optional<Number> parse_number(std::string_view text, bool* out_of_range = nullptr) {
  Number v{};
  const char* end = text.data() + text.size();
  const auto [p, ec] = std::from_chars(text.data(), end, v);
  if (out_of_range) *out_of_range = ec == std::errc::result_out_of_range;
  if (ec != std::errc() || p != end) return std::nullopt;
  return v;
}

/// `host` as a URL or a "host:port" writes it: an IPv6 address in brackets.
std::string url_host(std::string_view host);

/// A listen address as every listener here takes it (admin, Prometheus
/// sink, emulator): "host:port" or "[v6]:port"; port 0 means ephemeral.
struct ListenAddress {
  std::string host;  // without brackets
  std::uint16_t port = 0;
  /// As written: "host:port", "[v6]:port".
  std::string text() const;
};
/// nullopt with `error` set (naming the text) when malformed.
std::optional<ListenAddress> parse_listen(std::string_view text, std::string* error);

}  // namespace groupwatch
