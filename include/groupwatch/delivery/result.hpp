#pragma once
// One result: the final outcome of one group's poll in one cycle.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "groupwatch/config/group_meta.hpp"

namespace groupwatch::delivery {

struct Result {
  std::chrono::system_clock::time_point time;  // when the answer arrived
  std::string app;
  std::uint64_t sdkappid = 0;
  std::string group_id;
  std::optional<std::uint64_t> online_member_num;  // nullopt when error_code != 0
  std::int64_t error_code = 0;                     // -1: no answer (network)
  std::string error_info;
  config::GroupMetaPtr meta;  // the group's name and labels; null when it has none
};

/// Appends the labels as a JSON object ({} when none).
void append_labels_json(std::string& out, const config::GroupMetaPtr& meta);

/// The NDJSON line of interface.md, without the trailing newline.
std::string to_json_line(const Result& r);
/// The same line appended to `out`.
void append_json_line(std::string& out, const Result& r);

}  // namespace groupwatch::delivery
