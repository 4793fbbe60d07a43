// Watchlist files: text and YAML, duplicates, relative paths, bounds.
#include <chrono>
#include <filesystem>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "config/groups.hpp"
#include "config/helpers.hpp"
#include "groupwatch/config/config.hpp"

namespace groupwatch::config {
namespace {

TEST(CheckGroupId, Rules) {
  std::string w;
  EXPECT_EQ(check_group_id("@TGS#_@TGS#cQVLVHIM62CJ", &w), "");
  EXPECT_EQ(w, "");
  EXPECT_EQ(check_group_id("", &w), "group ID is empty");
  EXPECT_THAT(check_group_id(std::string(129, 'A'), &w), HasSubstr("129 bytes"));
  EXPECT_EQ(check_group_id("@TGS#_" + std::string(122, 'A'), &w), "");
  EXPECT_THAT(check_group_id("@TGS#_a b", &w), HasSubstr("space"));
  EXPECT_THAT(check_group_id("@TGS#_a\x01", &w), HasSubstr("control"));
  EXPECT_THAT(check_group_id("@TGS#_a\x7f", &w), HasSubstr("control"));
  EXPECT_EQ(check_group_id("plain-group", &w), "");
  EXPECT_THAT(w, HasSubstr("'plain-group' does not start with @TGS#_"));
  EXPECT_EQ(check_group_id("plain-group", nullptr), "");
}

class GroupFiles : public test::ScratchDir {
 protected:
  LoadResult load_app(const std::string& groups_yaml) {
    path_ = write("conf/gw.yaml",
                  "apps:\n"
                  "  - name: a\n"
                  "    sdkappid: 1\n"
                  "    admin: x\n"
                  "    secret_key: k\n"
                  "    endpoint: https://h\n" +
                      groups_yaml + "sinks: [{type: ndjson}]\n");
    return load_config(path_, env_of({{"LIST", "more.txt"}}));
  }
  std::string path_;
};

TEST_F(GroupFiles, TextFormat) {
  const std::string f = write("conf/list.txt",
                              "# a comment\n"
                              "\n"
                              "@TGS#_@TGS#AAAAAAAAAAA1\n"
                              "   @TGS#_@TGS#AAAAAAAAAAA2   \n"
                              "\t@TGS#_@TGS#AAAAAAAAAAA3\r\n"
                              "@TGS#_@TGS#AAAAAAAAAAA4  # trailing comment\n"
                              "   # indented comment\n"
                              "@TGS#_@TGS#AAAAAAAAAAA5");  // no final newline
  std::vector<GroupEntry> out;
  Diagnostics d;
  read_group_file(f, out, d);
  EXPECT_FALSE(d.has_errors()) << joined(test::formatted(d, false));
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(out[0].id, "@TGS#_@TGS#AAAAAAAAAAA1");
  EXPECT_EQ(out[1].id, "@TGS#_@TGS#AAAAAAAAAAA2");
  EXPECT_EQ(out[2].id, "@TGS#_@TGS#AAAAAAAAAAA3");
  EXPECT_EQ(out[3].id, "@TGS#_@TGS#AAAAAAAAAAA4");
  EXPECT_EQ(out[4].id, "@TGS#_@TGS#AAAAAAAAAAA5");
  EXPECT_EQ(out[1].file, f);
  EXPECT_EQ(out[1].mark.line, 4);
  EXPECT_EQ(out[1].mark.col, 4);
  EXPECT_EQ(out[4].mark.line, 8);
}

TEST_F(GroupFiles, TextFileBadLinesAreErrorsWithLineNumbers) {
  const std::string f =
      write("list.txt",
            "@TGS#_ok\n"
            "@TGS#_has space\n" +
                std::string(4097, 'A') + "\n" + "@TGS#_" + std::string(4090, 'B') + "\n" + "@TGS#_fine\n");
  std::vector<GroupEntry> out;
  Diagnostics d;
  read_group_file(f, out, d);
  const auto e = test::formatted(d, false);
  ASSERT_EQ(e.size(), 3u) << joined(e);
  EXPECT_EQ(e[0], f + ":2:1: error: group ID contains a space or a control character");
  EXPECT_EQ(e[1], f + ":3:1: error: line is longer than 4096 bytes");
  EXPECT_EQ(e[2], f + ":4:1: error: group ID is 4096 bytes long; the limit is 128");
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].id, "@TGS#_fine");
  EXPECT_EQ(out[1].mark.line, 5);
}

TEST_F(GroupFiles, YamlList) {
  const std::string f = write("list.yaml",
                              "# YAML watchlist\n"
                              "- \"@TGS#_@TGS#AAAAAAAAAAA1\"\n"
                              "- '@TGS#_@TGS#AAAAAAAAAAA2'\n"
                              "- [nested]\n");
  std::vector<GroupEntry> out;
  Diagnostics d;
  read_group_file(f, out, d);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].id, "@TGS#_@TGS#AAAAAAAAAAA2");
  EXPECT_EQ(out[1].mark.line, 3);
  EXPECT_EQ(out[1].mark.col, 3);
  const auto e = test::formatted(d, false);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0], f + ":4:3: error: each watchlist entry must be a group ID or a mapping {id, name, labels}");
}

TEST_F(GroupFiles, YamlMustBeAListAndSyntaxErrorsHavePositions) {
  std::vector<GroupEntry> out;
  Diagnostics d;
  read_group_file(write("map.yml", "a: b\n"), out, d);
  read_group_file(write("broken.yaml", "- [a\n- b\n"), out, d);
  const auto e = test::formatted(d, false);
  ASSERT_EQ(e.size(), 2u) << joined(e);
  EXPECT_THAT(e[0], HasSubstr("map.yml:1:1: error: a YAML watchlist must be a list of group IDs"));
  EXPECT_THAT(e[1], ::testing::ContainsRegex("broken.yaml:[0-9]+:[0-9]+: error: YAML syntax error"));
}

TEST_F(GroupFiles, MissingFileIsAnError) {
  std::vector<GroupEntry> out;
  Diagnostics d;
  read_group_file(dir_ + "/none.txt", out, d);
  ASSERT_EQ(d.error_count(), 1);
  EXPECT_THAT(test::formatted(d, false)[0],
              HasSubstr("none.txt: error: cannot read watchlist: No such file or directory"));
}

// The issue: "@TGS#_@TGS#BAD\xffUTF8 in a watchlist passes check; PostgreSQL
// rejects the whole batch on every retry".
TEST_F(GroupFiles, InvalidUtf8AndC1ControlsAreErrorsWithTheirLine) {
  write("list.txt", "@TGS#_@TGS#GOOD0001\n@TGS#_@TGS#BAD\xffUTF8\n@TGS#_@TGS#C1\xc2\x85X\n@TGS#_@TGS#\xe7\xbe\xa4\n");
  std::vector<GroupEntry> out;
  Diagnostics d;
  read_group_file(dir_ + "/list.txt", out, d);
  auto e = test::formatted(d, false);
  ASSERT_EQ(e.size(), 2u) << test::joined(e);
  EXPECT_THAT(e[0], HasSubstr("list.txt:2:1: error: group ID is not valid UTF-8 (byte 0xFF at offset 14)"));
  EXPECT_THAT(e[1], HasSubstr("list.txt:3:1: error: group ID contains a control character"));
  ASSERT_EQ(out.size(), 2u);  // the good ones, a CJK one among them
}

// The issue: "a watchlist symlinked to /dev/zero plus SIGHUP kills the
// daemon with std::bad_alloc; a FIFO blocks the loop".
TEST_F(GroupFiles, OnlyRegularFilesOfBoundedSizeAreRead) {
  std::filesystem::create_symlink("/dev/zero", dir_ + "/zero.txt");
  ASSERT_EQ(::mkfifo((dir_ + "/fifo.txt").c_str(), 0600), 0);
  { std::ofstream big(dir_ + "/big.txt"); }
  std::filesystem::resize_file(dir_ + "/big.txt", kMaxConfigFileBytes + 1);  // sparse: no disk used
  for (const char* name : {"/zero.txt", "/fifo.txt", "/big.txt"}) {
    std::vector<GroupEntry> out;
    Diagnostics d;
    auto t0 = std::chrono::steady_clock::now();
    read_group_file(dir_ + name, out, d);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5)) << name;
    ASSERT_EQ(d.error_count(), 1) << name;
    auto msg = test::formatted(d, false)[0];
    EXPECT_THAT(msg, HasSubstr(std::string(name) == "/big.txt" ? "the limit is" : "is not a regular file")) << msg;
  }
}

TEST_F(GroupFiles, RelativePathsResolveAgainstTheConfigDirectory) {
  write("conf/lists/a.txt", "@TGS#_@TGS#AAAAAAAAAAA1\n");
  write("conf/more.txt", "@TGS#_@TGS#AAAAAAAAAAA2\n");
  write("conf/b.yaml", "- \"@TGS#_@TGS#AAAAAAAAAAA3\"\n");
  const auto r = load_app(
      "    group_files:\n"
      "      - lists/a.txt\n"
      "      - ${LIST}\n"
      "      - " +
      dir_ + "/conf/b.yaml\n");
  ASSERT_TRUE(r.config) << joined(errors(r));
  EXPECT_THAT(r.config->apps[0].groups,
              ElementsAre("@TGS#_@TGS#AAAAAAAAAAA1", "@TGS#_@TGS#AAAAAAAAAAA2", "@TGS#_@TGS#AAAAAAAAAAA3"));
}

TEST_F(GroupFiles, UnreadableGroupFileIsReportedAtItsEntry) {
  const auto r = load_app(
      "    group_files:\n"
      "      - gone.txt\n");
  const auto e = errors(r);
  ASSERT_EQ(e.size(), 1u) << joined(e);
  EXPECT_EQ(e[0],
            path_ + ":8:9: error: cannot read group file '" + dir_ + "/conf/gone.txt': No such file or directory");
}

TEST_F(GroupFiles, DuplicatesAreWarnedOnceEachAndKeptOnce) {
  const std::string f = write("conf/a.txt",
                              "@TGS#_@TGS#AAAAAAAAAAA2\n"
                              "@TGS#_@TGS#AAAAAAAAAAA1\n"
                              "@TGS#_@TGS#AAAAAAAAAAA2\n");
  const std::string y = write("conf/b.yaml", "- \"@TGS#_@TGS#AAAAAAAAAAA1\"\n- \"@TGS#_@TGS#AAAAAAAAAAA3\"\n");
  const auto r = load_app(
      "    groups: [\"@TGS#_@TGS#AAAAAAAAAAA1\"]\n"
      "    group_files: [a.txt, b.yaml]\n");
  ASSERT_TRUE(r.config) << joined(errors(r));
  EXPECT_THAT(r.config->apps[0].groups,
              ElementsAre("@TGS#_@TGS#AAAAAAAAAAA1", "@TGS#_@TGS#AAAAAAAAAAA2", "@TGS#_@TGS#AAAAAAAAAAA3"));
  const auto w = warnings(r);
  ASSERT_EQ(w.size(), 3u) << joined(w);
  // Sorted by file, then position.
  EXPECT_EQ(w[0], f + ":2:1: warning: duplicate group ID '@TGS#_@TGS#AAAAAAAAAAA1' (first at " + path_ +
                      ":7:14); watched once");
  EXPECT_EQ(w[1],
            f + ":3:1: warning: duplicate group ID '@TGS#_@TGS#AAAAAAAAAAA2' (first at " + f + ":1:1); watched once");
  EXPECT_EQ(w[2], y + ":1:3: warning: duplicate group ID '@TGS#_@TGS#AAAAAAAAAAA1' (first at " + path_ +
                      ":7:14); watched once");
}

TEST_F(GroupFiles, ManyProblemsAreSummarisedNotListed) {
  std::string text;
  for (int i = 0; i < 100; ++i) text += "bad id " + std::to_string(i) + "\n";
  for (int i = 0; i < 100; ++i) text += "noprefix" + std::to_string(i) + "\n";
  for (int i = 0; i < 100; ++i) text += "@TGS#_dup\n";
  write("conf/a.txt", text);
  const auto r = load_app("    group_files: [a.txt]\n");
  EXPECT_FALSE(r.config);
  EXPECT_EQ(errors(r).size(), 21u);
  EXPECT_THAT(joined(errors(r)), HasSubstr("80 more invalid group IDs not shown"));
  const auto w = joined(warnings(r));
  EXPECT_THAT(w, HasSubstr("80 more group IDs without the @TGS#_ prefix not shown"));
  EXPECT_THAT(w, HasSubstr("49 more duplicate group IDs not shown"));
  EXPECT_LE(warnings(r).size(), 20u + 1 + 50 + 1);
}

TEST_F(GroupFiles, TooManyGroupsInOneFile) {
  // The same ID 2,000,001 times: the bound counts lines, not distinct IDs.
  std::string text;
  const std::string line = "@TGS#_x\n";
  text.reserve(line.size() * 2'000'001);
  for (int i = 0; i < 2'000'001; ++i) text += line;
  write("conf/big.txt", text);
  const auto r = load_app("    group_files: [big.txt]\n");
  EXPECT_FALSE(r.config);
  ASSERT_EQ(errors(r).size(), 1u) << joined(errors(r));
  EXPECT_THAT(errors(r)[0], HasSubstr("big.txt:2000001:1: error: more than 2000000 group IDs in one file"));
}

TEST_F(GroupFiles, MillionIdsLoadQuickly) {
  std::string text;
  text.reserve(24 * 1'000'000);
  char buf[32];
  for (int i = 0; i < 1'000'000; ++i) {
    std::snprintf(buf, sizeof buf, "@TGS#_@TGS#%012d\n", i);
    text += buf;
  }
  write("conf/million.txt", text);
  const auto start = std::chrono::steady_clock::now();
  const auto r = load_app("    group_files: [million.txt]\n");
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(r.config) << joined(errors(r));
  ASSERT_EQ(r.config->apps[0].groups.size(), 1'000'000u);
  EXPECT_EQ(r.config->apps[0].groups[999'999], "@TGS#_@TGS#000000999999");
  EXPECT_THAT(r.diagnostics.all(), IsEmpty());
  // Generous: a few hundred ms in Release; sanitizer builds are much slower.
  EXPECT_LT(took, std::chrono::seconds(60));
}

}  // namespace
}  // namespace groupwatch::config
