#pragma once
// Parsing the vendor's answer with simdjson on-demand. Never throws.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace groupwatch::tencent {

inline constexpr std::size_t max_answer_bytes = std::size_t{64} * 1024;

struct Answer {
  bool action_ok = false;                          // ActionStatus == "OK"
  std::int64_t error_code = 0;                     // ErrorCode
  std::string error_info;                          // ErrorInfo
  std::optional<std::uint64_t> online_member_num;  // present (and sane) on success
};

enum class AnswerError {
  none,
  empty,          // zero-length body
  too_large,      // over max_answer_bytes
  not_json,       // HTML page, garbage, truncated JSON
  not_object,     // JSON but not an object
  missing_field,  // no ErrorCode (or no OnlineMemberNum on success)
  wrong_type,     // a field of the wrong JSON type
  bad_count,      // OnlineMemberNum negative, fractional or beyond 2^63
};
std::string_view to_string(AnswerError e);

struct ParsedAnswer {
  AnswerError error = AnswerError::none;
  Answer answer;       // valid when error == none
  std::string detail;  // human-readable reason when error != none
};
ParsedAnswer parse_answer(std::string_view body);
/// The same, for a body whose buffer holds `capacity` readable bytes from
/// body.data(): with simdjson's padding spare (64 bytes) it is parsed where it
/// lies instead of copied.
ParsedAnswer parse_answer(std::string_view body, std::size_t capacity);

}  // namespace groupwatch::tencent
