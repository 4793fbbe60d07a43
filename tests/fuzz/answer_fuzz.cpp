// libFuzzer target: parse_answer must return a typed result for any body.
#include <string_view>

#include "fuzz_target.hpp"
#include "groupwatch/tencent/answer.hpp"

GW_FUZZ_TARGET(answer) {
  using namespace groupwatch::tencent;
  const ParsedAnswer p = parse_answer(std::string_view(reinterpret_cast<const char*>(data), size));
  if (p.error == AnswerError::none) {
    GW_FUZZ_CHECK(size > 0 && size <= max_answer_bytes);
    GW_FUZZ_CHECK(p.answer.error_code != 0 || p.answer.online_member_num.has_value());
  } else {
    GW_FUZZ_CHECK(!p.detail.empty());
    GW_FUZZ_CHECK(!to_string(p.error).empty());
  }
  return 0;
}
