#pragma once
// One fuzz target per *_fuzz.cpp. GW_FUZZ_TARGET(name) { ... } is libFuzzer's
// LLVMFuzzerTestOneInput in the fuzz build; with GW_FUZZ_REPLAY defined (the
// regression tests include the .cpp) it is gw_fuzz::name instead, so the
// corpus and crash files replay through the very same code in normal builds.
// GW_FUZZ_CHECK(cond) aborts the fuzzer, or throws in the replay.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#ifdef GW_FUZZ_REPLAY
#define GW_FUZZ_TARGET(name)                            \
  namespace gw_fuzz {                                   \
  int name(const std::uint8_t* data, std::size_t size); \
  }                                                     \
  int gw_fuzz::name(const std::uint8_t* data, std::size_t size)
#define GW_FUZZ_CHECK(cond)                                               \
  do {                                                                    \
    if (!(cond)) throw std::logic_error("fuzz invariant failed: " #cond); \
  } while (false)
#else
#define GW_FUZZ_TARGET(name) extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
#define GW_FUZZ_CHECK(cond)                                                                   \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      std::fprintf(stderr, "fuzz invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                           \
    }                                                                                         \
  } while (false)
#endif
