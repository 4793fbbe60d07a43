#include "app/board.hpp"

#include <algorithm>

#include "groupwatch/tencent/errors.hpp"

namespace groupwatch::app {

GroupBoard::GroupBoard(std::size_t top, std::size_t history, std::size_t parked_max)
    : top_n_(top), history_n_(history), parked_max_(parked_max) {}

// Every result passes here: a group that is neither parked nor on the board
// costs a lookup in each, not a walk over them.
void GroupBoard::observe(const delivery::Result& r) {
  // The key is made in a buffer kept from one result to the next: a result
  // that changes nothing on the board costs no allocation.
  std::string& key = key_;
  key.assign(r.app).append(1, '\n').append(r.group_id);
  // An error that does not park leaves the board as it was.
  const bool parks = r.error_code != 0 && tencent::classify(r.error_code).action == tencent::Action::park_group;
  if (r.error_code != 0 && !parks) return;
  if (parked_keys_.contains(key)) unpark(r.app, r.group_id);  // parked again (at the end), or answered
  if (parks) {
    if (candidates_.erase(key) != 0) smallest_.reset();
    Parked p{r.app,
             r.group_id,
             config::group_name(r.meta),
             r.error_code,
             std::string(tencent::classify(r.error_code).meaning),
             r.time};
    parked_.push_back(std::move(p));
    parked_keys_.insert(key);
    while (parked_.size() > parked_max_) unpark(parked_.front().app, parked_.front().group_id);
    return;
  }
  if (!r.online_member_num) return;
  std::uint64_t n = *r.online_member_num;
  auto it = candidates_.find(key);
  if (it == candidates_.end()) {
    // Twice as many candidates as shown, so that a group dipping for a cycle
    // keeps its sparkline; the smallest goes when a bigger one arrives.
    if (candidates_.size() >= 2 * top_n_) {
      if (!smallest_) {
        smallest_ = std::min_element(candidates_.begin(), candidates_.end(),
                                     [](const auto& a, const auto& b) { return a.second.count < b.second.count; });
      }
      if ((*smallest_)->second.count >= n) return;
      candidates_.erase(*smallest_);
    }
    it = candidates_.emplace(key, Top{r.app, r.group_id, {}, 0, {}}).first;
  }
  smallest_.reset();  // a count on the board changed
  it->second.count = n;
  if (it->second.name != config::group_name(r.meta)) it->second.name = config::group_name(r.meta);
  auto& h = it->second.history;
  h.push_back(n);
  if (h.size() > history_n_) h.erase(h.begin(), h.begin() + static_cast<std::ptrdiff_t>(h.size() - history_n_));
}

void GroupBoard::unpark(const std::string& app, const std::string& group_id) {
  auto it = std::find_if(parked_.begin(), parked_.end(),
                         [&](const Parked& p) { return p.app == app && p.group_id == group_id; });
  if (it == parked_.end()) return;
  parked_keys_.erase(app + '\n' + group_id);
  parked_.erase(it);
}

std::vector<GroupBoard::Top> GroupBoard::top() const {
  std::vector<Top> out;
  out.reserve(candidates_.size());
  for (const auto& [k, t] : candidates_) out.push_back(t);
  std::sort(out.begin(), out.end(), [](const Top& a, const Top& b) {
    if (a.count != b.count) return a.count > b.count;
    return a.group_id < b.group_id;
  });
  if (out.size() > top_n_) out.resize(top_n_);
  return out;
}

std::vector<GroupBoard::Parked> GroupBoard::parked() const {
  return {parked_.rbegin(), parked_.rend()};
}

}  // namespace groupwatch::app
