// libFuzzer target: parse_answer must return a typed result for any body.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "groupwatch/tencent/answer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace groupwatch::tencent;
  ParsedAnswer p = parse_answer(std::string_view(reinterpret_cast<const char*>(data), size));
  if (p.error == AnswerError::none && p.answer.error_code == 0 && !p.answer.online_member_num) std::abort();
  if (p.error != AnswerError::none && p.detail.empty()) std::abort();
  return 0;
}
