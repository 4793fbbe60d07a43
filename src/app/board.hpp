#pragma once
// The status page's top groups and parked groups.
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "groupwatch/delivery/result.hpp"

namespace groupwatch::app {

/// The status page's per-group view, kept cheap: the latest count and the
/// last few counts of the top groups only (a bounded candidate set, not a
/// history per group), and the parked groups with their reason.
class GroupBoard {
 public:
  struct Top {
    std::string app;
    std::string group_id;
    std::string name;  // the group's name as of its latest count; empty when none
    std::uint64_t count = 0;
    std::vector<std::uint64_t> history;  // oldest first, the latest last
  };
  struct Parked {
    std::string app;
    std::string group_id;
    std::string name;
    std::int64_t code = 0;
    std::string reason;
    std::chrono::system_clock::time_point time;
  };

  explicit GroupBoard(std::size_t top = 20, std::size_t history = 10, std::size_t parked_max = 200);
  void observe(const delivery::Result& r);
  /// By count, highest first; at most `top` entries.
  std::vector<Top> top() const;
  /// Newest first.
  std::vector<Parked> parked() const;
  std::size_t candidates() const { return candidates_.size(); }

 private:
  /// Takes the group off the parked list, when it is there.
  void unpark(const std::string& app, const std::string& group_id);

  std::size_t top_n_, history_n_, parked_max_;
  std::map<std::string, Top> candidates_;  // key app + '\n' + group_id; at most 2 * top
  // The candidate with the lowest count, when known (a map's iterators stay
  // valid while their element does; any change to the board forgets it).
  std::optional<std::map<std::string, Top>::iterator> smallest_;
  std::string key_;                                 // observe(): the key of the result at hand
  std::deque<Parked> parked_;                       // oldest first; at most parked_max
  std::set<std::string, std::less<>> parked_keys_;  // the keys of parked_
};

}  // namespace groupwatch::app
