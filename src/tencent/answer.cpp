#include "groupwatch/tencent/answer.hpp"

#include <simdjson.h>
#include <array>
#include <limits>

#include "groupwatch/util/names.hpp"

namespace groupwatch::tencent {
namespace {

namespace od = simdjson::ondemand;

// The first bytes of a body an operator can read in a log line (an HTML
// error page says what went wrong faster than any error code).
std::string snippet(std::string_view body) {
  constexpr std::size_t max = 60;
  std::string out;
  for (char c : body.substr(0, max)) {
    auto u = static_cast<unsigned char>(c);
    out.push_back(u >= 0x20 && u < 0x7f ? c : (c == '\n' || c == '\r' || c == '\t' ? ' ' : '?'));
  }
  if (body.size() > max) out.append("...");
  return out;
}

ParsedAnswer fail(AnswerError e, std::string detail) {
  ParsedAnswer p;
  p.error = e;
  p.detail = std::move(detail);
  return p;
}

enum class CountState { absent, ok, wrong_type, bad };

// simdjson reports big integers and malformed numbers alike, so numbers are
// checked against the JSON grammar and converted here from the raw token.
struct Number {
  enum Kind { malformed, integer, fractional } kind = malformed;
  bool negative = false;
  bool fits = false;  // integer magnitude below 2^64
  std::uint64_t magnitude = 0;
};

Number read_number(std::string_view tok) {
  while (!tok.empty() && (tok.back() == ' ' || tok.back() == '\t' || tok.back() == '\n' || tok.back() == '\r')) {
    tok.remove_suffix(1);
  }
  Number n;
  std::size_t i = 0;
  auto digit = [&](std::size_t k) { return k < tok.size() && tok[k] >= '0' && tok[k] <= '9'; };
  if (i < tok.size() && tok[i] == '-') {
    n.negative = true;
    ++i;
  }
  if (!digit(i)) return n;
  std::size_t int_start = i;
  if (tok[i] == '0') {
    ++i;
  } else {
    while (digit(i)) ++i;
  }
  std::size_t int_end = i;
  bool frac = false;
  if (i < tok.size() && tok[i] == '.') {
    ++i;
    if (!digit(i)) return n;
    while (digit(i)) ++i;
    frac = true;
  }
  if (i < tok.size() && (tok[i] == 'e' || tok[i] == 'E')) {
    ++i;
    if (i < tok.size() && (tok[i] == '+' || tok[i] == '-')) ++i;
    if (!digit(i)) return n;
    while (digit(i)) ++i;
    frac = true;
  }
  if (i != tok.size()) return n;
  n.kind = frac ? Number::fractional : Number::integer;
  if (!frac) {
    n.fits = true;
    for (std::size_t k = int_start; k < int_end; ++k) {
      if (__builtin_mul_overflow(n.magnitude, 10u, &n.magnitude) ||
          __builtin_add_overflow(n.magnitude, static_cast<unsigned>(tok[k] - '0'), &n.magnitude)) {
        n.fits = false;
        break;
      }
    }
  }
  return n;
}

constexpr std::uint64_t int64_max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());

// What the fields of one answer said, as they are read.
struct Fields {
  Answer a;
  bool have_code = false;
  CountState count = CountState::absent;
  std::uint64_t count_value = 0;
  std::string wrong;  // name of the first field with a wrong type

  void wrong_type(std::string_view key) {
    if (wrong.empty()) wrong = key;
  }
};

// Reads one field into `f`; false when the body turns out not to be JSON.
// Unknown fields (RequestId and whatever comes next) are skipped.
bool read_field(std::string_view key, od::value& v, od::json_type vt, Fields& f) {
  if (key == "ActionStatus") {
    std::string_view s;
    if (vt != od::json_type::string || v.get_string().get(s) != simdjson::SUCCESS) {
      f.wrong_type(key);
      return true;
    }
    f.a.action_ok = s == "OK";
  } else if (key == "ErrorCode") {
    if (vt != od::json_type::number) {
      f.wrong_type(key);
      return true;
    }
    Number n = read_number(v.raw_json_token());
    if (n.kind == Number::malformed) return false;
    bool in_range = n.kind == Number::integer && n.fits && n.magnitude <= int64_max + (n.negative ? 1 : 0);
    if (!in_range) {
      f.wrong_type(key);
      return true;
    }
    f.a.error_code = n.negative ? static_cast<std::int64_t>(0 - n.magnitude) : static_cast<std::int64_t>(n.magnitude);
    f.have_code = true;
  } else if (key == "ErrorInfo") {
    std::string_view s;
    if (vt == od::json_type::null) {
      f.a.error_info.clear();
    } else if (vt != od::json_type::string || v.get_string().get(s) != simdjson::SUCCESS) {
      f.wrong_type(key);
    } else {
      f.a.error_info = std::string(s);
    }
  } else if (key == "OnlineMemberNum") {
    if (vt != od::json_type::number) {
      f.count = CountState::wrong_type;
      return true;
    }
    Number n = read_number(v.raw_json_token());
    if (n.kind == Number::malformed) return false;
    // Negative, fractional, exponent forms and anything beyond 2^63-1 are bad counts ("-0" is 0).
    if (n.kind != Number::integer || !n.fits || n.magnitude > int64_max || (n.negative && n.magnitude != 0)) {
      f.count = CountState::bad;
      return true;
    }
    f.count = CountState::ok;
    f.count_value = n.magnitude;
  }
  return true;
}

// The answer the fields add up to, or why they do not make one.
ParsedAnswer conclude(Fields& f) {
  if (!f.wrong.empty()) return fail(AnswerError::wrong_type, "field " + f.wrong + " has the wrong JSON type");
  if (!f.have_code) return fail(AnswerError::missing_field, "no ErrorCode");
  if (f.a.error_code == 0) {
    switch (f.count) {
      case CountState::absent:
        return fail(AnswerError::missing_field, "ErrorCode 0 without OnlineMemberNum");
      case CountState::wrong_type:
        return fail(AnswerError::wrong_type, "field OnlineMemberNum is not a number");
      case CountState::bad:
        return fail(AnswerError::bad_count, "OnlineMemberNum is not an integer from 0 to 2^63-1");
      case CountState::ok:
        f.a.online_member_num = f.count_value;
        break;
    }
  } else if (f.count == CountState::ok) {
    f.a.online_member_num = f.count_value;  // informational only on failures
  }
  ParsedAnswer p;
  p.answer = std::move(f.a);
  return p;
}

ParsedAnswer parse(std::string_view body, std::size_t capacity) {
  if (body.empty()) return fail(AnswerError::empty, "empty body");
  if (body.size() > max_answer_bytes) {
    return fail(AnswerError::too_large,
                "body of " + std::to_string(body.size()) + " bytes exceeds " + std::to_string(max_answer_bytes));
  }
  // One parser per thread: building one per answer costs more than parsing.
  thread_local od::parser parser;
  od::document doc;
  auto not_json = [&] { return fail(AnswerError::not_json, "body is not JSON: \"" + snippet(body) + "\""); };
  simdjson::padded_string padded;
  simdjson::error_code iterated;
  if (capacity >= body.size() + simdjson::SIMDJSON_PADDING) {
    iterated = parser.iterate(body.data(), body.size(), capacity).get(doc);
  } else {
    padded = simdjson::padded_string(body);
    iterated = parser.iterate(padded).get(doc);
  }
  if (iterated != simdjson::SUCCESS) return not_json();
  od::json_type type;
  if (doc.type().get(type) != simdjson::SUCCESS) return not_json();
  if (type != od::json_type::object) return fail(AnswerError::not_object, "JSON body is not an object");
  od::object obj;
  if (doc.get_object().get(obj) != simdjson::SUCCESS) return not_json();

  Fields f;
  for (auto field_result : obj) {
    od::field field;
    if (std::move(field_result).get(field) != simdjson::SUCCESS) return not_json();
    std::string_view key;
    if (field.unescaped_key().get(key) != simdjson::SUCCESS) return not_json();
    od::value v = field.value();
    od::json_type vt;
    if (v.type().get(vt) != simdjson::SUCCESS) return not_json();
    if (!read_field(key, v, vt, f)) return not_json();
  }
  // Truncated objects fail inside the loop; this catches trailing bytes.
  const char* loc = nullptr;
  if (doc.current_location().get(loc) != simdjson::OUT_OF_BOUNDS) return not_json();
  return conclude(f);
}

}  // namespace

constexpr std::array<std::string_view, 8> answer_errors{"none",       "empty",         "too_large",  "not_json",
                                                        "not_object", "missing_field", "wrong_type", "bad_count"};
static_assert(util::names_each(answer_errors, AnswerError::bad_count));

std::string_view to_string(AnswerError e) {
  return util::name_of(answer_errors, e, "unknown");
}

ParsedAnswer parse_answer(std::string_view body) {
  return parse_answer(body, body.size());
}

ParsedAnswer parse_answer(std::string_view body, std::size_t capacity) {
  try {
    return parse(body, capacity);
  } catch (const std::exception& e) {  // allocation failure; nothing else throws here
    return fail(AnswerError::not_json, std::string("parser failed: ") + e.what());
  }
}

}  // namespace groupwatch::tencent
