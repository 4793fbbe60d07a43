// Every list in the config is read one way (MapReader::list): a value that
// is not a list is one error at its place, and an absent or null list is the
// caller's to judge.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/helpers.hpp"

namespace groupwatch::config {
namespace {

class Lists : public test::Load {};

// kApp with `line` in place of its groups, which stand on line 7.
std::string app_with(const std::string& line) {
  std::string app = test::kApp;
  app.erase(app.find("    groups:"));
  return app + line + "\n";
}

TEST_F(Lists, AValueThatIsNoListIsOneErrorAtIt) {
  // Each case loads first: err_at needs the file's path.
  struct Case {
    std::string yaml;
    int line, col;
    std::string message;
  };
  const Case cases[] = {
      {"apps: all\n", 1, 7, "'apps' must be a list of mappings"},
      {std::string(test::kApp) + "sinks: sqlite\n", 8, 8, "'sinks' must be a list of mappings, each with a 'type'"},
      {app_with("    groups: \"@TGS#_1\""), 7, 13, "'groups' must be a list of group IDs"},
      {app_with("    group_files: ids.txt"), 7, 18, "'group_files' must be a list of paths"},
      {app_with("    discover: {include: \"VIP*\"}"), 7, 25, "'include' must be a list of patterns, e.g. [\"*\"]"},
  };
  for (const auto& c : cases) {
    const auto e = errors(load(c.yaml));
    EXPECT_THAT(e, ElementsAre(err_at(c.line, c.col) + c.message)) << c.yaml;
  }
}

TEST_F(Lists, AnAbsentOrNullListIsTheReadersToJudge) {
  EXPECT_THAT(joined(errors(load("apps:\n"))), HasSubstr("no apps configured: 'apps' needs at least one entry"));
  EXPECT_THAT(joined(errors(load("apps: []\n"))), HasSubstr("no apps configured: 'apps' needs at least one entry"));
  const auto no_sinks = load(std::string(test::kApp) + "sinks:\n");
  EXPECT_THAT(errors(no_sinks), ::testing::IsEmpty());
  EXPECT_THAT(joined(warnings(no_sinks)), HasSubstr("no sinks configured"));
  const auto no_groups = load(app_with("    groups: ~\n    discover: {}"));
  EXPECT_THAT(errors(no_groups), ::testing::IsEmpty()) << joined(errors(no_groups));
}

}  // namespace
}  // namespace groupwatch::config
