#pragma once
// The emulator as both emulator fuzz targets see it: one app, a few groups
// of each kind and fault, a fixed clock, a small QPS cap (so the rate check
// is reachable), no latency. A fresh Handler per input keeps runs
// reproducible.
#include <chrono>
#include <string>
#include <string_view>

#include "emulator/handler.hpp"
#include "fuzz_target.hpp"

namespace gw_fuzz {

inline constexpr std::uint64_t emulator_sdkappid = 1400000001;
inline constexpr std::string_view emulator_key = "fuzz-emulator-key-0123456789abcdef";
inline constexpr std::int64_t emulator_now = 1700000000;  // unix seconds

inline groupwatch::emulator::Options emulator_options() {
  using namespace groupwatch::emulator;
  Options o;
  o.tls = false;
  o.apps.push_back(App{emulator_sdkappid, std::string(emulator_key), "administrator", 3});
  o.apps.push_back(App{1400000002, "second-app-key-0123456789", "admin2", 200});
  o.groups = {
      Group{"@TGS#_@TGS#AAAAAAAAAAAA", GroupType::community, Fault::none},
      Group{"@TGS#_@TGS#BBBBBBBBBBBB", GroupType::public_group, Fault::none},
      Group{"@TGS#_@TGS#CCCCCCCCCCCC", GroupType::community, Fault::e10002},
      Group{"@TGS#_@TGS#DDDDDDDDDDDD", GroupType::community, Fault::reset},
      Group{"@TGS#_@TGS#EEEEEEEEEEEE", GroupType::community, Fault::malformed},
      Group{"@TGS#_@TGS#FFFFFFFFFFFF", GroupType::community, Fault::http502},
      Group{"@TGS#_@TGS#GGGGGGGGGGGG", GroupType::community, Fault::stall},
  };
  o.clock = [] { return std::chrono::system_clock::time_point(std::chrono::seconds(emulator_now)); };
  return o;
}

/// What holds for every answer.
inline void check_handled(const groupwatch::emulator::Handled& h) {
  using groupwatch::emulator::Handled;
  if (h.action != Handled::Action::reply) {
    GW_FUZZ_CHECK(h.close);
    return;
  }
  GW_FUZZ_CHECK(h.status >= 200 && h.status < 600);
  GW_FUZZ_CHECK(!h.content_type.empty());
  GW_FUZZ_CHECK(!h.body.empty());
  GW_FUZZ_CHECK(h.body.find(emulator_key) == std::string::npos);
  GW_FUZZ_CHECK(h.delay.count() >= 0);
}

}  // namespace gw_fuzz
