// Replays the fuzz corpora (tests/fuzz/corpus/<target>/) and every saved
// crash (tests/fuzz/regressions/<target>/) through the fuzz targets' own
// code, compiled here without libFuzzer (GW_FUZZ_REPLAY): a fixed crash that
// comes back fails the normal test run. The emulator targets need
// gw_emulator, which this binary does not link; the fuzz build replays them
// (ctest -L fuzz in build-fuzz).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#define GW_FUZZ_REPLAY 1
#include "fuzz/answer_fuzz.cpp"
#include "fuzz/config_fuzz.cpp"
#include "fuzz/usersig_fuzz.cpp"
#include "support/harness.hpp"

namespace {

namespace fs = std::filesystem;

std::vector<fs::path> inputs(const std::string& target) {
  std::vector<fs::path> out;
  for (const char* kind : {"corpus", "regressions"}) {
    const fs::path dir = fs::path(GW_SOURCE_DIR) / "tests" / "fuzz" / kind / target;
    if (!fs::is_directory(dir)) continue;
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.is_regular_file()) out.push_back(e.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

void replay(const std::string& target, const std::function<int(const std::uint8_t*, std::size_t)>& fn,
            std::size_t min_seeds) {
  const auto files = inputs(target);
  ASSERT_GE(files.size(), min_seeds) << "seed corpus for " << target << " is missing";
  for (const auto& f : files) {
    SCOPED_TRACE(f.string());
    const std::string data = gw_test::read_file(f);
    EXPECT_NO_THROW(fn(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()));
  }
}

TEST(FuzzRegression, AnswerCorpusAndCrashesReplayClean) {
  replay("answer", gw_fuzz::answer, 8);
}

TEST(FuzzRegression, UserSigCorpusAndCrashesReplayClean) {
  replay("usersig", gw_fuzz::usersig, 6);
}

TEST(FuzzRegression, ConfigCorpusAndCrashesReplayClean) {
  replay("config", gw_fuzz::config, 6);
}

TEST(FuzzRegression, BrokenInvariantIsReported) {
  // The replay must be able to fail: a UserSig that verifies against the
  // target's fixed key breaks its invariant.
  const std::string sig = groupwatch::tencent::make_usersig("fuzz-key", 1400000000, "admin", 86400, 1700000000);
  EXPECT_THROW(gw_fuzz::usersig(reinterpret_cast<const std::uint8_t*>(sig.data()), sig.size()), std::logic_error);
}

}  // namespace
