#pragma once
// A group's name and labels: from its watchlist entry ({id, name, labels}) or,
// for a discovered group, the vendor's Name. One shared, immutable object per
// group that has any, carried by every result of the group; groups without
// either carry none (a null pointer), so a plain watchlist costs nothing.
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace groupwatch::config {

struct GroupMeta {
  std::string name;                                         // empty: none
  std::vector<std::pair<std::string, std::string>> labels;  // sorted by key, keys unique
  bool operator==(const GroupMeta&) const = default;
};
using GroupMetaPtr = std::shared_ptr<const GroupMeta>;

/// The name a result shows: empty when the group has none.
inline const std::string& group_name(const GroupMetaPtr& m) {
  static const std::string none;
  return m ? m->name : none;
}

}  // namespace groupwatch::config
