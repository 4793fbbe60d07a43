#include "groupwatch/util/text.hpp"
#include <climits>

#include <array>
#include <cstdio>
#include <ctime>
#include <limits>

namespace groupwatch {
namespace {

struct Unit {
  std::string_view suffix;
  std::int64_t ms;
};
// Largest first: parse_duration requires this order, format_duration picks
// the first unit that divides exactly.
constexpr std::array<Unit, 5> units{{
    {"d", 86'400'000},
    {"h", 3'600'000},
    {"m", 60'000},
    {"s", 1'000},
    {"ms", 1},
}};

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

}  // namespace

std::optional<Millis> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::int64_t total = 0;
  std::size_t next_unit = 0;  // units must appear largest first, each once
  std::size_t i = 0;
  while (i < text.size()) {
    if (!is_digit(text[i])) return std::nullopt;
    std::int64_t n = 0;
    while (i < text.size() && is_digit(text[i])) {
      if (__builtin_mul_overflow(n, 10, &n) || __builtin_add_overflow(n, text[i] - '0', &n)) return std::nullopt;
      ++i;
    }
    std::size_t start = i;
    while (i < text.size() && !is_digit(text[i])) ++i;
    std::string_view suffix = text.substr(start, i - start);
    std::size_t u = next_unit;
    while (u < units.size() && units[u].suffix != suffix) ++u;
    if (u == units.size()) return std::nullopt;
    std::int64_t part = 0;
    if (__builtin_mul_overflow(n, units[u].ms, &part) || __builtin_add_overflow(total, part, &total)) {
      return std::nullopt;
    }
    next_unit = u + 1;
  }
  return Millis(total);
}

std::string format_duration(Millis d) {
  std::int64_t v = d.count();
  if (v == 0) return "0s";
  std::string sign;
  std::uint64_t mag = static_cast<std::uint64_t>(v);
  if (v < 0) {
    sign = "-";
    mag = 0 - mag;  // well-defined for INT64_MIN too
  }
  for (const Unit& u : units) {
    auto ms = static_cast<std::uint64_t>(u.ms);
    if (mag % ms == 0) return sign + std::to_string(mag / ms) + std::string(u.suffix);
  }
  return sign + std::to_string(mag) + "ms";  // unreachable: ms divides everything
}

std::string format_rfc3339_ms(std::chrono::system_clock::time_point t) {
  std::string out;
  append_rfc3339_ms(out, t);
  return out;
}

void append_rfc3339_ms(std::string& out, std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  auto ms_total = duration_cast<milliseconds>(t.time_since_epoch()).count();
  std::int64_t secs = ms_total / 1000;
  std::int64_t ms = ms_total % 1000;
  if (ms < 0) {  // floor for times before 1970
    ms += 1000;
    secs -= 1;
  }
  // Every result is stamped: the date-and-time part is computed once per
  // second per thread, only the milliseconds are added each time.
  thread_local std::int64_t cached_secs = INT64_MIN;
  thread_local char prefix[64];
  if (secs != cached_secs) {
    std::time_t tt = static_cast<std::time_t>(secs);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    std::snprintf(prefix, sizeof prefix, "%04d-%02d-%02dT%02d:%02d:%02d.", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec);
    cached_secs = secs;
  }
  const char tail[] = {static_cast<char>('0' + ms / 100), static_cast<char>('0' + ms / 10 % 10),
                       static_cast<char>('0' + ms % 10), 'Z'};
  out.append(prefix).append(tail, sizeof tail);
}

std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  std::size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // bounds for the second byte
  if (c < 0x80) {
    return 1;
  } else if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < len; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return len;
}

std::size_t first_invalid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = utf8_sequence_length(s, i);
    if (len == 0) return i;
    i += len;
  }
  return std::string_view::npos;
}

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  // The characters JSON escapes with a backslash and one letter, and the letters.
  static constexpr std::string_view short_escaped = "\"\\\n\r\t\b\f";
  static constexpr std::string_view short_escapes = "\"\\nrtbf";
  out.reserve(out.size() + s.size() + 2);
  out.push_back('"');
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      std::size_t len = utf8_sequence_length(s, i);
      if (len == 0) {
        out.append("\xEF\xBF\xBD");  // U+FFFD for one bad byte
        ++i;
      } else {
        out.append(s.substr(i, len));
        i += len;
      }
      continue;
    }
    if (c >= 0x20 && c != '"' && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else if (const auto k = short_escaped.find(static_cast<char>(c)); k != std::string_view::npos) {
      out.push_back('\\');
      out.push_back(short_escapes[k]);
    } else {
      out.append("\\u00");
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 0xF]);
    }
    ++i;
  }
  out.push_back('"');
}

std::string json_string(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

std::string url_host(std::string_view host) {
  if (host.find(':') == std::string_view::npos) return std::string(host);
  return "[" + std::string(host) + "]";
}

std::string ListenAddress::text() const {
  return url_host(host) + ":" + std::to_string(port);
}

std::optional<ListenAddress> parse_listen(std::string_view text, std::string* error) {
  auto fail = [&](std::string msg) -> std::optional<ListenAddress> {
    if (error) *error = std::move(msg);
    return std::nullopt;
  };
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return fail("'" + std::string(text) + "' is not HOST:PORT");
  std::string_view host = text.substr(0, colon), port = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) return fail("'" + std::string(text) + "' has no host (use 0.0.0.0 for every address)");
  if (port.empty() || port.size() > 5) return fail("'" + std::string(text) + "' has no valid port");
  unsigned p = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return fail("'" + std::string(text) + "' has no valid port");
    p = p * 10 + static_cast<unsigned>(c - '0');
  }
  if (p > 65535) return fail("port " + std::string(port) + " is out of range");
  return ListenAddress{std::string(host), static_cast<std::uint16_t>(p)};
}

}  // namespace groupwatch
