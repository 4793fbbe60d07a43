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
  auto parsed = tencent::parse_answer(r.body);
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

Decision decide(const AttemptState& s, const Outcome& o, double jitter) {
  Decision d;
  auto finish = [&](std::int64_t code, std::string info) {
    d.what = Decision::Do::finish;
    d.code = code;
    d.info = std::move(info);
    return d;
  };
  // Transient failures: another attempt within the cycle while retries last.
  auto retry_or_finish = [&](std::int64_t code, std::string info) {
    if (s.attempt - s.extra <= s.retries && !s.stopping) {
      d.what = Decision::Do::retry;
      d.delay = backoff(s.attempt, jitter);
      d.counts = true;
      d.code = code;
      d.info = std::move(info);
      return d;
    }
    return finish(code, std::move(info));
  };
  // Retries that are not the group's fault (rate limits, renewals, a stale
  // connection) do not count against `retries`, but are bounded too.
  auto extra_or_finish = [&](std::chrono::milliseconds delay, std::int64_t code, std::string info) {
    if (s.extra < max_extra_attempts && !s.stopping) {
      d.what = Decision::Do::retry;
      d.delay = delay;
      d.counts = false;
      d.code = code;
      d.info = std::move(info);
      return d;
    }
    return finish(code, std::move(info));
  };

  if (o.failure != http::Failure::none) {
    d.failure_kind = http::to_string(o.failure);
    if (o.stale) return extra_or_finish(0ms, tencent::network_error_code, failure_text(o));
    return retry_or_finish(tencent::network_error_code, failure_text(o));
  }
  if (o.status != 200) {
    d.failure_kind = "http_" + std::to_string(o.status);
    auto text = "HTTP " + std::to_string(o.status);
    if (o.status >= 500) return retry_or_finish(tencent::network_error_code, text);
    return finish(tencent::network_error_code, text);
  }
  if (o.invalid) {
    d.failure_kind = "invalid_answer";
    return retry_or_finish(tencent::network_error_code, "invalid answer: " + o.invalid_what);
  }
  auto info = tencent::classify(o.code);
  switch (info.action) {
    case tencent::Action::record:
      d.count = o.count;
      return finish(0, "");
    case tencent::Action::retry:
      return retry_or_finish(o.code, o.info);
    case tencent::Action::slow_down:
      d.lower_rate = true;
      return extra_or_finish(backoff(s.extra + 1, jitter) + 500ms, o.code, o.info);
    case tencent::Action::renew_sig:
      if (s.sig_fresh) {
        // Renewing gives another signature the server calls expired: this
        // group's result is the failure, and the app pauses (the poller).
        d.clock_skew = true;
        return finish(o.code, o.info);
      }
      d.renew_sig = true;
      return extra_or_finish(0ms, o.code, o.info);
    case tencent::Action::renew_sig_once:
      if (s.bad_sig_renewed_recently) {
        d.what = Decision::Do::stop_app;
        d.code = o.code;
        d.info = o.info;
        d.stop_reason = fmt::format("signature rejected twice ({} {}): {}", o.code, info.meaning, stop_hint(o.code));
        return d;
      }
      d.renew_sig = true;
      d.bad_sig = true;
      return extra_or_finish(0ms, o.code, o.info);
    case tencent::Action::pause_app:
      d.pause_app = true;
      return extra_or_finish(pause_for, o.code, o.info);
    case tencent::Action::park_group:
      d.what = Decision::Do::park;
      d.code = o.code;
      d.info = o.info;
      return d;
    case tencent::Action::stop_app:
      d.what = Decision::Do::stop_app;
      d.code = o.code;
      d.info = o.info;
      d.stop_reason = fmt::format("{} {}: {}", o.code, info.meaning, stop_hint(o.code));
      return d;
    case tencent::Action::report:
      return finish(o.code, o.info);
  }
  return finish(o.code, o.info);
}

}  // namespace groupwatch::app
