// The command-line parser both binaries use: CLI11 splits, the handlers see
// the options in the order they were written, and the errors read as
// groupwatch's always have.
#include "groupwatch/util/command_line.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace {

using groupwatch::CommandLineParser;

struct Recorder {
  std::vector<std::string> seen;
  CommandLineParser p{[](const std::string& w) { return "unknown option '" + w + "'"; }};
  Recorder() {
    p.flag("-q,--quiet", [this] { seen.push_back("quiet"); });
    p.option("-c,--config", [this](const std::string& v) { seen.push_back("config=" + v); });
    p.option("-l,--level", [this](const std::string& v) {
      if (v == "bad") throw groupwatch::BadOptionValue("'bad' is not a level");
      seen.push_back("level=" + v);
    });
    p.option("--n", [this](const std::string& v) {
      if (v == "bad") throw std::runtime_error("--n: 'bad' is not a number");
      seen.push_back("n=" + v);
    });
  }
  std::vector<std::string> parse(std::vector<const char*> args) { return p.parse(args); }
};

std::string error_of(std::vector<const char*> args) {
  Recorder r;
  try {
    r.parse(std::move(args));
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

TEST(CommandLine, HandsOverOptionsInTheOrderWrittenAndKeepsTheWords) {
  Recorder r;
  const auto words =
      r.parse({"run", "--n", "1", "-c", "a.yaml", "--quiet", "g1", "--n=2", "--config=b.yaml", "-", "g2"});
  EXPECT_EQ(words, (std::vector<std::string>{"run", "g1", "-", "g2"}));
  EXPECT_EQ(r.seen, (std::vector<std::string>{"n=1", "config=a.yaml", "quiet", "n=2", "config=b.yaml"}));
}

TEST(CommandLine, AValueThatLooksLikeAnOptionIsStillTheValue) {
  Recorder r;
  r.parse({"--config", "--quiet"});
  EXPECT_EQ(r.seen, (std::vector<std::string>{"config=--quiet"}));
}

TEST(CommandLine, TwoDashesEndTheOptions) {
  Recorder r;
  EXPECT_EQ(r.parse({"--quiet", "--", "x", "-y", "--"}), (std::vector<std::string>{"x", "-y", "--"}));
  EXPECT_EQ(r.seen, (std::vector<std::string>{"quiet"}));
}

TEST(CommandLine, ErrorsNameTheOption) {
  EXPECT_EQ(error_of({"run", "--config"}), "--config needs a value");
  EXPECT_EQ(error_of({"-c"}), "--config needs a value");
  EXPECT_EQ(error_of({"--bogus"}), "unknown option '--bogus'");
  EXPECT_EQ(error_of({"--bogus=1"}), "unknown option '--bogus=1'");
  EXPECT_EQ(error_of({"-x"}), "unknown option '-x'");
  EXPECT_EQ(error_of({"--quiet=no"}), "unknown option '--quiet=no'") << "a flag takes no value";
  EXPECT_EQ(error_of({"--config", "x", "--", "--quiet=no"}), "");
  EXPECT_EQ(error_of({"--n", "bad"}), "--n: 'bad' is not a number");
  EXPECT_EQ(error_of({"--n", "1", "--quiet"}), "");
}

TEST(CommandLine, ABadOptionValueIsNamedByTheOptionsLongName) {
  EXPECT_EQ(error_of({"--level", "bad"}), "--level: 'bad' is not a level");
  EXPECT_EQ(error_of({"--level=bad"}), "--level: 'bad' is not a level");
  EXPECT_EQ(error_of({"-l", "bad"}), "--level: 'bad' is not a level");
  EXPECT_EQ(error_of({"-lbad"}), "--level: 'bad' is not a level");
  EXPECT_EQ(error_of({"--level", "info"}), "");
}

TEST(CommandLine, AFlagGivenAValueIsNamedByTheProgramsOwnText) {
  CommandLineParser p([](const std::string& w) { return "unknown option '" + w + "'"; },
                      [](const std::string& flag) { return flag + " takes no value"; });
  bool plain = false;
  p.flag("--plain", [&] { plain = true; });
  std::vector<const char*> args{"--plain=x"};
  try {
    p.parse(args);
    ADD_FAILURE() << "--plain=x was taken";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "--plain takes no value");
  }
  EXPECT_FALSE(plain);
}

TEST(CommandLine, AHandlerRunsOnlyOnceTheWholeLineIsKnownGood) {
  Recorder r;
  EXPECT_THROW(r.parse({"--quiet", "--nope"}), std::runtime_error);
  EXPECT_TRUE(r.seen.empty()) << "nothing is applied from a line with an unknown option";
}

}  // namespace
