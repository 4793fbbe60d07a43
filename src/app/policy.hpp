#pragma once
// The answer policy: what the poller does with the outcome of one attempt.
// A pure function of (attempt state, outcome) -> decision, so it is tested
// without sockets or clocks (tests/app/policy_test.cpp). Private to the app
// stage.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "groupwatch/http/pool.hpp"

namespace groupwatch::app {

/// What one attempt came back with.
struct Outcome {
  http::Failure failure = http::Failure::none;  // no answer at all
  bool stale = false;                           // reused connection closed before any answer byte
  std::string detail;                           // the failure's text
  unsigned status = 200;                        // HTTP status, when an answer came
  bool invalid = false;                         // 200 but not a valid answer
  std::string invalid_what;
  std::int64_t code = 0;  // the vendor's ErrorCode, when the answer was valid
  std::string info;       // its ErrorInfo
  std::optional<std::uint64_t> count;

  static Outcome from(const http::Response& r);
};

struct AttemptState {
  int attempt = 0;  // attempts made, this one included
  int extra = 0;    // attempts that did not count against retries, this one excluded
  int retries = 3;  // poll.retries
  bool stopping = false;
  bool bad_sig_renewed_recently = false;  // a bad-signature renewal within the last minute
  bool sig_fresh = false;                 // the attempt's UserSig was made within fresh_sig_age
};

struct Decision {
  enum class Do {
    finish,    // this is the group's result for the cycle
    retry,     // try again after `delay`
    park,      // finish, then park the group
    stop_app,  // finish, then stop the app
  };
  Do what = Do::finish;
  std::chrono::milliseconds delay{0};
  bool counts = true;  // a retry counted against `retries` (else an extra one)
  bool renew_sig = false;
  bool lower_rate = false;  // a rate-limit answer
  bool pause_app = false;   // pause the app for pause_for
  bool bad_sig = false;     // the renewal was for a rejected signature (remember when)
  bool clock_skew = false;  // "expired" for a fresh UserSig: the clocks disagree; pause the app
  std::int64_t code = 0;    // the result's code (-1 for no answer)
  std::string info;
  std::optional<std::uint64_t> count;
  std::string stop_reason;
  std::string failure_kind;  // for the metrics: timeout, reset, http_502, invalid_answer (empty for answers)
};

inline constexpr int max_extra_attempts = 10;
inline constexpr std::chrono::milliseconds pause_for{60000};
/// A UserSig younger than this that the server calls expired (70001) means
/// the clocks disagree by more than its lifetime: renewing cannot help.
inline constexpr std::int64_t fresh_sig_age_s = 60;

/// Backoff before retry number `attempt` (1-based), `jitter` in [0.5, 1.5].
std::chrono::milliseconds backoff(int attempt, double jitter);

/// `jitter` in [0.5, 1.5], drawn by the caller.
Decision decide(const AttemptState& s, const Outcome& o, double jitter);

/// The text of a network failure in a result's error_info.
std::string failure_text(const Outcome& o);

}  // namespace groupwatch::app
