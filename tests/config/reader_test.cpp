#include "groupwatch/config/reader.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/helpers.hpp"

namespace groupwatch::config {
namespace {

TEST(Interpolate, PlainTextPassesThrough) {
  std::string err;
  EXPECT_EQ(interpolate("just $text {}", env_of({}), &err), "just $text {}");
}

TEST(Interpolate, ReplacesEveryReference) {
  std::string err;
  auto env = env_of({{"HOST", "example.com"}, {"PORT", "8443"}});
  EXPECT_EQ(interpolate("https://${HOST}:${PORT}/x", env, &err), "https://example.com:8443/x");
}

TEST(Interpolate, DefaultUsedWhenUnsetOrEmpty) {
  std::string err;
  EXPECT_EQ(interpolate("${P:-18443}", env_of({}), &err), "18443");
  EXPECT_EQ(interpolate("${P:-18443}", env_of({{"P", ""}}), &err), "18443");
  EXPECT_EQ(interpolate("${P:-18443}", env_of({{"P", "1"}}), &err), "1");
  EXPECT_EQ(interpolate("${P:-}", env_of({}), &err), "");
  EXPECT_EQ(interpolate("${U:-https://a:1/b}", env_of({}), &err), "https://a:1/b");
}

TEST(Interpolate, SetButEmptyWithoutDefaultIsEmpty) {
  std::string err;
  EXPECT_EQ(interpolate("a${E}b", env_of({{"E", ""}}), &err), "ab");
}

TEST(Interpolate, UnsetVariableIsAnErrorNamingIt) {
  std::string err;
  EXPECT_EQ(interpolate("x ${TIM_SECRET_KEY} y", env_of({}), &err), std::nullopt);
  EXPECT_THAT(err, HasSubstr("TIM_SECRET_KEY"));
  EXPECT_THAT(err, HasSubstr("not set"));
}

TEST(Interpolate, MalformedReferences) {
  std::string err;
  EXPECT_EQ(interpolate("${OPEN", env_of({{"OPEN", "v"}}), &err), std::nullopt);
  EXPECT_THAT(err, HasSubstr("unterminated"));
  EXPECT_EQ(interpolate("${}", env_of({}), &err), std::nullopt);
  EXPECT_THAT(err, HasSubstr("invalid variable reference"));
  EXPECT_EQ(interpolate("${1X}", env_of({}), &err), std::nullopt);
  EXPECT_EQ(interpolate("${A-B}", env_of({}), &err), std::nullopt);
}

TEST(Interpolate, ValueIsNotRescanned) {
  std::string err;
  EXPECT_EQ(interpolate("${A}", env_of({{"A", "${B}"}}), &err), "${B}");
}

struct ReaderCase : ::testing::Test {
  Diagnostics diags;
  EnvLookup env = env_of({{"NUM", "12"}, {"SECRET", "hunter2-very-secret"}});
  YAML::Node yaml(const std::string& text) { return YAML::Load(text); }
  // A reader of `text`, as f.yaml, for `context`.
  MapReader read(const std::string& text, const std::string& context) {
    node = yaml(text);
    return MapReader(node, "f.yaml", diags, env, context);
  }
  YAML::Node node;
  std::vector<std::string> errs() { return test::formatted(diags, false); }
  // The one error recorded ("", and a failure, when there is not one alone).
  std::string the_error() {
    const auto e = errs();
    EXPECT_EQ(diags.error_count(), 1) << test::joined(e);
    return diags.error_count() == 1 ? e.at(0) : "";
  }
};

TEST_F(ReaderCase, GettersReadTypedValues) {
  MapReader r = read(
      "s: hello\n"
      "i: ${NUM}\n"
      "u: 1400000001\n"
      "d: 1.5\n"
      "b: yes\n"
      "t: 4m\n"
      "o: json\n"
      "z: 64MiB\n"
      "z2: 10MB\n"
      "z3: 4096\n",
      "test");
  std::string s, o;
  std::int64_t i = 0;
  std::uint64_t u = 0, z = 0, z2 = 0, z3 = 0;
  double d = 0;
  bool b = false;
  std::chrono::milliseconds t{};
  EXPECT_TRUE(r.string("s", s));
  EXPECT_TRUE(r.integer("i", i, 0, 100));
  EXPECT_TRUE(r.uinteger("u", u));
  EXPECT_TRUE(r.number("d", d, 0));
  EXPECT_TRUE(r.boolean("b", b));
  EXPECT_TRUE(r.duration("t", t));
  EXPECT_TRUE(r.one_of("o", o, {"logfmt", "json"}));
  EXPECT_TRUE(r.bytes("z", z));
  EXPECT_TRUE(r.bytes("z2", z2));
  EXPECT_TRUE(r.bytes("z3", z3));
  r.finish();
  EXPECT_FALSE(diags.has_errors()) << test::joined(errs());
  EXPECT_EQ(s, "hello");
  EXPECT_EQ(i, 12);
  EXPECT_EQ(u, 1400000001u);
  EXPECT_DOUBLE_EQ(d, 1.5);
  EXPECT_TRUE(b);
  EXPECT_EQ(t, std::chrono::minutes(4));
  EXPECT_EQ(o, "json");
  EXPECT_EQ(z, 64u << 20);
  EXPECT_EQ(z2, 10'000'000u);
  EXPECT_EQ(z3, 4096u);
}

TEST_F(ReaderCase, AbsentKeyLeavesDefaultAndRequiredKeyComplains) {
  MapReader r = read("a: 1\n", "poll");
  std::int64_t v = 7;
  EXPECT_FALSE(r.integer("missing", v, 0, 10));
  EXPECT_EQ(v, 7);
  EXPECT_FALSE(diags.has_errors());
  EXPECT_FALSE(r.integer("needed", v, 0, 10, true));
  EXPECT_THAT(the_error(), HasSubstr("missing required key 'needed' in poll"));
}

TEST_F(ReaderCase, WrongTypesAreErrorsAtTheValue) {
  MapReader r = read(
      "list: [1, 2]\n"
      "num: abc\n"
      "range: 99\n"
      "pos: -1\n"
      "flag: maybe\n"
      "dur: 5 minutes\n"
      "choice: loud\n"
      "size: 12XB\n"
      "neg: -5\n",
      "test");
  std::string s;
  std::int64_t i = 0;
  std::uint64_t u = 0;
  double d = 0;
  bool b = false;
  std::chrono::milliseconds t{};
  EXPECT_FALSE(r.string("list", s));
  EXPECT_FALSE(r.integer("num", i, 0, 10));
  EXPECT_FALSE(r.integer("range", i, 0, 10));
  EXPECT_FALSE(r.number("pos", d, 0));
  EXPECT_FALSE(r.boolean("flag", b));
  EXPECT_FALSE(r.duration("dur", t));
  EXPECT_FALSE(r.one_of("choice", s, {"debug", "info"}));
  EXPECT_FALSE(r.bytes("size", u));
  EXPECT_FALSE(r.uinteger("neg", u));
  r.finish();
  const auto e = errs();
  ASSERT_EQ(e.size(), 9u) << test::joined(e);
  EXPECT_EQ(e[0], "f.yaml:1:7: error: 'list' must be a single value, not a list");
  EXPECT_EQ(e[1], "f.yaml:2:6: error: 'num' must be an integer, got 'abc'");
  EXPECT_EQ(e[2], "f.yaml:3:8: error: 'range' must be between 0 and 10, got 99");
  EXPECT_EQ(e[3], "f.yaml:4:6: error: 'pos' must be a positive number, got -1");
  EXPECT_THAT(e[4], HasSubstr("f.yaml:5:7: error: 'flag' must be true or false"));
  EXPECT_THAT(e[5], HasSubstr("f.yaml:6:6: error: 'dur' is not a valid duration: '5 minutes'"));
  EXPECT_EQ(e[6], "f.yaml:7:9: error: 'choice' must be one of debug|info, got 'loud'");
  EXPECT_THAT(e[7], HasSubstr("f.yaml:8:7: error: 'size' must be a size"));
  EXPECT_THAT(e[8], HasSubstr("f.yaml:9:6: error: 'neg' must be a non-negative integer"));
}

TEST_F(ReaderCase, UnknownKeysAreReportedWithASuggestion) {
  MapReader r = read(
      "interval: 4m\n"
      "intervall: 5m\n"
      "zzz: 1\n",
      "poll");
  std::chrono::milliseconds t{};
  r.duration("interval", t);
  r.duration("timeout", t);
  r.finish();
  const auto e = errs();
  ASSERT_EQ(e.size(), 2u) << test::joined(e);
  EXPECT_EQ(e[0], "f.yaml:2:1: error: unknown key 'intervall' in poll (did you mean 'interval'?)");
  EXPECT_EQ(e[1], "f.yaml:3:1: error: unknown key 'zzz' in poll; valid keys: interval, timeout");
}

TEST_F(ReaderCase, SwappedLettersAndKeysAskedOnlyByHasGetASuggestion) {
  MapReader r = read(
      "regoin: singapore\n"
      "secret_key_flie: k\n",
      "apps[0]");
  // The loader asks has() first for keys that are alternatives of each other.
  EXPECT_FALSE(r.has("region"));
  EXPECT_FALSE(r.has("secret_key_file"));
  r.finish();
  const auto e = errs();
  ASSERT_EQ(e.size(), 2u) << test::joined(e);
  EXPECT_THAT(e[0], HasSubstr("unknown key 'regoin' in apps[0] (did you mean 'region'?)"));
  EXPECT_THAT(e[1], HasSubstr("unknown key 'secret_key_flie' in apps[0] (did you mean 'secret_key_file'?)"));
}

TEST(EditDistance, ASwapCostsOne) {
  EXPECT_EQ(edit_distance("regoin", "region"), 1u);
  EXPECT_EQ(edit_distance("flie", "file"), 1u);
  EXPECT_EQ(edit_distance("abc", "abc"), 0u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("ca", "abc"), 3u);  // OSA: no edit of a swapped pair
}

TEST(DiagnosticOrder, ErrorsComeBeforeWarnings) {
  Diagnostics d;
  d.warning("a.yaml", {1, 1}, "w1");
  d.error("a.yaml", {9, 1}, "e9");
  d.warning("a.yaml", {2, 1}, "w2");
  d.error("a.yaml", {3, 1}, "e3");
  d.sort();
  std::vector<std::string> got;
  for (const auto& x : d.all()) got.push_back(x.message);
  EXPECT_EQ(got, (std::vector<std::string>{"e3", "e9", "w1", "w2"}));
}

TEST_F(ReaderCase, DuplicateKeysAreErrors) {
  MapReader r = read(
      "a: 1\n"
      "a: 2\n",
      "test");
  std::int64_t v = 0;
  r.integer("a", v, 0, 9);
  r.finish();
  const auto e = errs();
  ASSERT_EQ(e.size(), 1u) << test::joined(e);
  EXPECT_EQ(e[0], "f.yaml:2:1: error: duplicate key 'a' in test");
}

TEST_F(ReaderCase, NotAMappingIsAnErrorAndGettersFail) {
  MapReader r = read("[1, 2]\n", "poll");
  std::string s;
  EXPECT_FALSE(r.string("x", s));
  r.finish();
  EXPECT_EQ(the_error(), "f.yaml:1:1: error: poll must be a mapping");
}

TEST_F(ReaderCase, UnsetVariableErrorNamesIt) {
  MapReader r = read("endpoint: https://${NOPE}/\n", "app");
  std::string s;
  EXPECT_FALSE(r.string("endpoint", s));
  EXPECT_THAT(the_error(), HasSubstr("f.yaml:1:11: error: 'endpoint': environment variable NOPE is not set"));
}

TEST_F(ReaderCase, InterpolatedValuesAreNeverEchoed) {
  // A secret put by mistake into a typed field must not show up in the message.
  MapReader r = read(
      "qps: ${SECRET}\n"
      "flag: ${SECRET}\n"
      "secret_key: {hunter2-inline: x}\n"
      "secret_key2: [hunter2-inline]\n",
      "app");
  double d = 0;
  bool b = false;
  std::string s;
  r.number("qps", d, 0);
  r.boolean("flag", b);
  r.secret("secret_key", s);
  r.secret("secret_key2", s);
  r.finish();
  EXPECT_EQ(diags.error_count(), 4);
  for (const auto& m : errs()) {
    EXPECT_THAT(m, Not(HasSubstr("hunter2")));
  }
}

TEST_F(ReaderCase, MarkOfValueIsOneBased) {
  auto n = yaml(
      "top:\n"
      "  key:   value\n");
  MapReader r(n["top"], "f.yaml", diags, env, "top");
  EXPECT_EQ(r.mark("key").line, 2);
  EXPECT_EQ(r.mark("key").col, 10);
  const auto m = mark_of(n["top"]);
  EXPECT_EQ(m.line, 2);
  EXPECT_EQ(m.col, 3);
}

TEST_F(ReaderCase, NodeMarksKeyKnownAndAbsentNodeIsUndefined) {
  MapReader r = read("nested: {a: 1}\n", "test");
  EXPECT_TRUE(r.node("nested").IsMap());
  EXPECT_FALSE(r.node("absent").IsDefined());
  r.finish();
  EXPECT_FALSE(diags.has_errors());
}

TEST(DiagnosticFormat, ErrorsAndWarnings) {
  Diagnostic e{"a.yaml", {3, 7}, "bad", false};
  Diagnostic w{"a.yaml", {3, 7}, "hmm", true};
  Diagnostic nowhere{"a.yaml", {}, "cannot read", false};
  EXPECT_EQ(e.format(), "a.yaml:3:7: error: bad");
  EXPECT_EQ(w.format(), "a.yaml:3:7: warning: hmm");
  EXPECT_EQ(nowhere.format(), "a.yaml: error: cannot read");
}

}  // namespace
}  // namespace groupwatch::config
