#include "groupwatch/tencent/errors.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace groupwatch::tencent {
namespace {

// The decisions from tencent-api.md's table, written out independently.
const std::map<std::int64_t, Action>& expected_actions() {
  static const std::map<std::int64_t, Action> m = [] {
    std::map<std::int64_t, Action> m{{0, Action::record}, {70001, Action::renew_sig}, {70050, Action::pause_app}};
    for (auto c : {60004, 60005, 70003, 70005, 70052}) m[c] = Action::renew_sig_once;
    for (auto c : {60008, 60014, 70169, 70500, 10002}) m[c] = Action::retry;
    for (auto c : {60007, 60011, 60018, 60019, 10006}) m[c] = Action::slow_down;
    for (auto c : {10007, 10010, 10015}) m[c] = Action::park_group;
    for (auto c : {60006, 60012, 60016, 60020, 60021, 70009, 70013, 70014, 70016, 70020, 60010, 70403})
      m[c] = Action::stop_app;
    for (auto c : {10003, 10004}) m[c] = Action::report;
    return m;
  }();
  return m;
}

TEST(ErrorCodes, KnownCodesAreExactlyTheDocumentedOnes) {
  std::set<std::int64_t> listed;
  for (const CodeInfo& c : known_codes()) {
    EXPECT_TRUE(listed.insert(c.code).second) << "duplicate " << c.code;
    EXPECT_FALSE(c.meaning.empty()) << c.code;
  }
  std::set<std::int64_t> expected;
  for (const auto& [code, action] : expected_actions()) expected.insert(code);
  EXPECT_EQ(listed, expected);
}

TEST(ErrorCodes, EachKnownCodeHasItsAction) {
  for (const CodeInfo& c : known_codes()) {
    auto it = expected_actions().find(c.code);
    ASSERT_NE(it, expected_actions().end()) << c.code;
    EXPECT_EQ(c.action, it->second) << c.code << ": " << to_string(c.action) << " vs " << to_string(it->second);
    CodeInfo looked_up = classify(c.code);
    EXPECT_EQ(looked_up.code, c.code);
    EXPECT_EQ(looked_up.action, it->second) << c.code;
    EXPECT_EQ(looked_up.meaning, c.meaning);
  }
}

TEST(ErrorCodes, UnlistedCodesAreReported) {
  for (std::int64_t code : {1LL, 10001LL, 10005LL, 60001LL, 60009LL, 70002LL, 70051LL, 99999LL, -2LL,
                            static_cast<long long>(INT64_MAX), static_cast<long long>(INT64_MIN)}) {
    CodeInfo c = classify(code);
    EXPECT_EQ(c.action, Action::report) << code;
    EXPECT_EQ(c.code, code);
    EXPECT_EQ(c.meaning, "unknown error code");
  }
}

TEST(ErrorCodes, NetworkErrorsAreRetried) {
  EXPECT_EQ(classify(network_error_code).action, Action::retry);
  EXPECT_FALSE(expected_actions().contains(network_error_code));
}

TEST(ErrorCodes, ActionNamesAreDistinct) {
  std::set<std::string_view> names;
  for (Action a : {Action::record, Action::retry, Action::slow_down, Action::renew_sig, Action::renew_sig_once,
                   Action::pause_app, Action::park_group, Action::stop_app, Action::report}) {
    EXPECT_TRUE(names.insert(to_string(a)).second) << to_string(a);
  }
  EXPECT_EQ(to_string(Action::renew_sig_once), "renew_sig_once");
}

}  // namespace
}  // namespace groupwatch::tencent
