#include "groupwatch/schedule/plan.hpp"

#include <algorithm>

namespace groupwatch::schedule {

std::uint64_t stable_hash(std::string_view id) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : id) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  // FNV alone clusters IDs that share long prefixes ("@TGS#_@TGS#..."); the
  // finaliser spreads them over the whole range.
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

void sort_by_slot(std::vector<std::string>& ids) {
  std::vector<std::pair<std::uint64_t, std::string>> keyed;
  keyed.reserve(ids.size());
  for (auto& id : ids) keyed.emplace_back(stable_hash(id), std::move(id));
  std::sort(keyed.begin(), keyed.end());
  for (std::size_t i = 0; i < keyed.size(); ++i) ids[i] = std::move(keyed[i].second);
}

bool slot_before(std::string_view a, std::string_view b) {
  const auto ha = stable_hash(a), hb = stable_hash(b);
  return ha < hb || (ha == hb && a < b);
}

std::chrono::nanoseconds slot_offset(std::size_t k, std::size_t n, std::chrono::nanoseconds interval) {
  if (n == 0) return {};
  // 128-bit intermediate: interval (ns) * k overflows 64 bits for long lists.
  auto num = static_cast<unsigned __int128>(interval.count()) * k;
  return std::chrono::nanoseconds(static_cast<std::int64_t>(num / n));
}

std::chrono::system_clock::time_point cycle_start(std::chrono::system_clock::time_point now,
                                                  std::chrono::nanoseconds interval) {
  auto since = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch());
  auto start = since - since % interval;
  return std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(start));
}

std::size_t first_slot_at_or_after(std::chrono::nanoseconds into, std::size_t n, std::chrono::nanoseconds interval) {
  if (n == 0 || into <= std::chrono::nanoseconds::zero()) return 0;
  if (into >= interval) return n;
  // k * interval / n >= into  <=>  k >= ceil(into * n / interval), corrected for the floor in slot_offset.
  auto k = static_cast<std::size_t>((static_cast<unsigned __int128>(into.count()) * n) / interval.count());
  while (k < n && slot_offset(k, n, interval) < into) ++k;
  while (k > 0 && slot_offset(k - 1, n, interval) >= into) --k;
  return k;
}

}  // namespace groupwatch::schedule
