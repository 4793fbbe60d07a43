#pragma once
// When each group is due within the refresh cycle.
//
// Groups are ordered by a stable 64-bit hash of their ID and given evenly
// spaced slots: the k-th of N is due at k * interval / N after the cycle
// start. The hash order makes a group's slot depend only on its ID's rank
// among the others, so a restart keeps every slot and a reload that adds or
// removes a few groups moves the rest by at most a few slots. Cycles are
// aligned to the wall clock (multiples of the interval since the Unix
// epoch), so a restarted daemon polls each group at the same time of cycle.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace groupwatch::schedule {

/// FNV-1a 64 then a murmur finaliser: stable across runs and platforms.
std::uint64_t stable_hash(std::string_view id);

/// Sorts `ids` into slot order (by hash, ties by ID) in place.
void sort_by_slot(std::vector<std::string>& ids);
/// The slot order itself: true when `a` comes before `b`.
bool slot_before(std::string_view a, std::string_view b);

/// Offset of slot k of n within the cycle.
std::chrono::nanoseconds slot_offset(std::size_t k, std::size_t n, std::chrono::nanoseconds interval);

/// Start of the cycle containing wall-clock time `now` (aligned to the epoch).
std::chrono::system_clock::time_point cycle_start(std::chrono::system_clock::time_point now,
                                                  std::chrono::nanoseconds interval);

/// First slot whose offset is >= `into` (time since the cycle start); n when none.
std::size_t first_slot_at_or_after(std::chrono::nanoseconds into, std::size_t n, std::chrono::nanoseconds interval);

}  // namespace groupwatch::schedule
