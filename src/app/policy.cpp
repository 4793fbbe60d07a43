#include "app/policy.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "groupwatch/tencent/answer.hpp"
#include "groupwatch/tencent/errors.hpp"

namespace groupwatch::app {

using namespace std::chrono_literals;

namespace {

std::string stop_hint(std::int64_t code) {
  switch (code) {
    case 70016:
    case 70020:
      return "the SDKAppID is not served by this region's domain: check `region`/`endpoint`";
    case 60010:
    case 70403:
      return "`admin` is not an App Administrator of this app";
    case 70009:
    case 70013:
    case 70014:
      return "the UserSig does not match: check `sdkappid`, `admin` and the secret key";
    case 60004:
    case 60005:
    case 70003:
    case 70005:
    case 70052:
      return "the secret key does not sign valid UserSigs for this app: check the key";
    default:
      return "check sdkappid, admin, secret key and region";
  }
}

}  // namespace

Outcome Outcome::from(const http::Response& r) {
  Outcome o;
  o.failure = r.failure;
  o.stale = r.stale;
  o.detail = r.detail;
  if (r.failure != http::Failure::none) return o;
  o.status = r.status;
  if (r.status != 200) return o;
  auto parsed = tencent::parse_answer(r.body, r.body.capacity());
  if (parsed.error != tencent::AnswerError::none) {
    o.invalid = true;
    o.invalid_what = std::string(tencent::to_string(parsed.error));
    return o;
  }
  o.code = parsed.answer.error_code;
  o.info = std::move(parsed.answer.error_info);
  o.count = parsed.answer.online_member_num;
  return o;
}

std::string failure_text(const Outcome& o) {
  auto with = [&](const char* what) { return o.detail.empty() ? std::string(what) : what + (": " + o.detail); };
  switch (o.failure) {
    case http::Failure::timeout:
      return "timeout";
    case http::Failure::reset:
      return "connection reset";
    case http::Failure::tls:
      return with("TLS failure");
    case http::Failure::resolve:
      return with("DNS failure");
    case http::Failure::connect:
      return with("connect failed");
    case http::Failure::protocol:
      return "malformed HTTP answer";
    case http::Failure::too_large:
      return "answer too large";
    default:
      return http::to_string(o.failure);
  }
}

std::chrono::milliseconds backoff(int attempt, double jitter) {
  double base = 100.0 * std::pow(2.0, std::max(0, attempt - 1));
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::min(base, 5000.0) * jitter));
}

namespace {

// One decision: the three ways to end an attempt, then what the transport
// said, then what the vendor's answer code asks for.
class Decider {
 public:
  Decider(const AttemptState& s, const Outcome& o, double jitter) : s_(s), o_(o), jitter_(jitter) {}

  Decision transport() {
    if (o_.failure != http::Failure::none) {
      d_.failure_kind = http::to_string(o_.failure);
      if (o_.stale) return extra_or_finish(0ms, tencent::network_error_code, failure_text(o_));
      return retry_or_finish(tencent::network_error_code, failure_text(o_));
    }
    if (o_.status != 200) {
      d_.failure_kind = "http_" + std::to_string(o_.status);
      auto text = "HTTP " + std::to_string(o_.status);
      if (o_.status >= 500) return retry_or_finish(tencent::network_error_code, text);
      return finish(tencent::network_error_code, text);
    }
    d_.failure_kind = "invalid_answer";
    return retry_or_finish(tencent::network_error_code, "invalid answer: " + o_.invalid_what);
  }

  Decision answer() {
    const auto info = tencent::classify(o_.code);
    switch (info.action) {
      case tencent::Action::record:
        d_.count = o_.count;
        return finish(0, "");
      case tencent::Action::retry:
        return retry_or_finish(o_.code, o_.info);
      case tencent::Action::slow_down:
        d_.lower_rate = true;
        return extra_or_finish(backoff(s_.extra + 1, jitter_) + 500ms, o_.code, o_.info);
      case tencent::Action::renew_sig:
        if (s_.sig_fresh) {
          // Renewing gives another signature the server calls expired: this
          // group's result is the failure, and the app pauses (the poller).
          d_.clock_skew = true;
          return finish(o_.code, o_.info);
        }
        d_.renew_sig = true;
        return extra_or_finish(0ms, o_.code, o_.info);
      case tencent::Action::renew_sig_once:
        if (s_.bad_sig_renewed_recently) {
          return stop_app(
              fmt::format("signature rejected twice ({} {}): {}", o_.code, info.meaning, stop_hint(o_.code)));
        }
        d_.renew_sig = true;
        d_.bad_sig = true;
        return extra_or_finish(0ms, o_.code, o_.info);
      case tencent::Action::pause_app:
        d_.pause_app = true;
        return extra_or_finish(pause_for, o_.code, o_.info);
      case tencent::Action::park_group:
        return end_as(Decision::Do::park);
      case tencent::Action::stop_app:
        return stop_app(fmt::format("{} {}: {}", o_.code, info.meaning, stop_hint(o_.code)));
      case tencent::Action::report:
        return finish(o_.code, o_.info);
    }
    return finish(o_.code, o_.info);
  }

 private:
  Decision finish(std::int64_t code, std::string info) {
    d_.what = Decision::Do::finish;
    d_.code = code;
    d_.info = std::move(info);
    return d_;
  }
  // Transient failures: another attempt within the cycle while retries last.
  Decision retry_or_finish(std::int64_t code, std::string info) {
    if (s_.attempt - s_.extra <= s_.retries && !s_.stopping)
      return retry(backoff(s_.attempt, jitter_), true, code, info);
    return finish(code, std::move(info));
  }
  // Retries that are not the group's fault (rate limits, renewals, a stale
  // connection) do not count against `retries`, but are bounded too.
  Decision extra_or_finish(std::chrono::milliseconds delay, std::int64_t code, std::string info) {
    if (s_.extra < max_extra_attempts && !s_.stopping) return retry(delay, false, code, info);
    return finish(code, std::move(info));
  }
  Decision retry(std::chrono::milliseconds delay, bool counts, std::int64_t code, std::string& info) {
    d_.what = Decision::Do::retry;
    d_.delay = delay;
    d_.counts = counts;
    d_.code = code;
    d_.info = std::move(info);
    return d_;
  }
  Decision end_as(Decision::Do what) {
    d_.what = what;
    d_.code = o_.code;
    d_.info = o_.info;
    return d_;
  }
  Decision stop_app(std::string reason) {
    d_.stop_reason = std::move(reason);
    return end_as(Decision::Do::stop_app);
  }

  const AttemptState& s_;
  const Outcome& o_;
  double jitter_;
  Decision d_;
};

}  // namespace

Decision decide(const AttemptState& s, const Outcome& o, double jitter) {
  Decider d(s, o, jitter);
  if (o.failure != http::Failure::none || o.status != 200 || o.invalid) return d.transport();
  return d.answer();
}

}  // namespace groupwatch::app
