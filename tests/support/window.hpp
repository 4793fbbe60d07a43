// The rate checks every test makes: the largest number of events in any
// half-open window [t, t + w). Works for seconds as doubles and for
// std::chrono time points alike.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

namespace groupwatch::testing {

template <class Time, class Width>
std::size_t max_in_window(std::vector<Time> ts, Width w) {
  std::sort(ts.begin(), ts.end());
  std::size_t best = 0, lo = 0;
  for (std::size_t hi = 0; hi < ts.size(); ++hi) {
    while (ts[hi] - ts[lo] >= w) ++lo;
    best = std::max(best, hi - lo + 1);
  }
  return best;
}

}  // namespace groupwatch::testing
