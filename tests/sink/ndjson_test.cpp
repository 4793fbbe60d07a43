#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "sink/helpers.hpp"

namespace {

using namespace gw_test;
using ::testing::HasSubstr;

// Every line of the file at `path`, empty ones too.
std::vector<std::string> lines_in(const std::string& path) {
  std::ifstream f(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(f, line);) out.push_back(line);
  return out;
}

TEST(NdjsonSink, WritesOneLinePerResult) {
  TempDir dir;
  auto s = make_sink("- type: ndjson\n  path: out/samples.ndjson\n", dir.path());  // relative to state_dir
  ASSERT_TRUE(s);
  s->open();
  std::vector<delivery::Result> batch{make_result(1), make_result(2, -1)};
  s->write(batch);
  s->write(std::vector<delivery::Result>{make_result(3)});
  auto lines = lines_in(dir.file("out/samples.ndjson"));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], delivery::to_json_line(batch[0]));
  EXPECT_EQ(lines[1], delivery::to_json_line(batch[1]));
  EXPECT_THAT(lines[1], HasSubstr("\"online_member_num\":null"));
  EXPECT_EQ(read_file(dir.file("out/samples.ndjson")).back(), '\n');
}

TEST(NdjsonSink, AppendsToAnExistingFileAndCutsAPartialLastLine) {
  TempDir dir;
  std::string path = dir.file("s.ndjson");
  std::ofstream(path) << "{\"complete\":1}\n{\"torn\":";
  auto s = make_sink("- type: ndjson\n  path: " + path + "\n  fsync: false\n", dir.path());
  ASSERT_TRUE(s);
  s->open();
  s->write(std::vector<delivery::Result>{make_result(7)});
  auto lines = lines_in(path);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "{\"complete\":1}");
  EXPECT_EQ(lines[1], delivery::to_json_line(make_result(7)));
}

TEST(NdjsonSink, RotatesBySizeKeepingNFiles) {
  TempDir dir;
  std::string path = dir.file("r.ndjson");
  const auto line = delivery::to_json_line(make_result(1)).size() + 1;
  // Room for two lines per file.
  auto s =
      make_sink("- type: ndjson\n  path: " + path + "\n  max_size: " + std::to_string(2 * line + 1) + "\n  keep: 2\n",
                dir.path());
  ASSERT_TRUE(s);
  s->open();
  for (int i = 1; i <= 7; ++i) s->write(std::vector<delivery::Result>{make_result(i)});
  // Files: path = {7}, path.1 = {5,6}, path.2 = {3,4}; {1,2} rotated away.
  auto cur = lines_in(path);
  auto one = lines_in(path + ".1");
  auto two = lines_in(path + ".2");
  ASSERT_EQ(cur.size(), 1u);
  ASSERT_EQ(one.size(), 2u);
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(cur[0], delivery::to_json_line(make_result(7)));
  EXPECT_EQ(one[0], delivery::to_json_line(make_result(5)));
  EXPECT_EQ(two[1], delivery::to_json_line(make_result(4)));
  EXPECT_FALSE(fs::exists(path + ".3"));
}

TEST(NdjsonSink, SettingsAreValidated) {
  auto p = parse_yaml("- type: ndjson\n  path: x\n  max_size: lots\n  keep: -1\n  fsync: maybe\n");
  EXPECT_EQ(p.diags.error_count(), 3) << p.errors();
  EXPECT_TRUE(p.sinks.empty());
  auto ok = parse_yaml("- type: ndjson\n  path: /var/x.ndjson\n  max_size: 10MiB\n  keep: 3\n");
  ASSERT_EQ(ok.sinks.size(), 1u) << ok.errors();
  EXPECT_THAT(ok.sinks[0].spec->describe(), HasSubstr("/var/x.ndjson"));
}

TEST(NdjsonSink, PreflightRejectsAPathUnderAFile) {
  TempDir dir;
  std::ofstream(dir.file("file")) << "x";
  auto p = parse_yaml("- type: ndjson\n  path: " + dir.file("file") + "/sub/out.ndjson\n");
  ASSERT_EQ(p.sinks.size(), 1u) << p.errors();
  const std::string why = thrown_by([&] { p.sinks[0].spec->preflight(delivery::SinkContext{dir.path(), "ndjson"}); });
  EXPECT_THAT(why, HasSubstr(dir.file("file")));
  EXPECT_THAT(why, HasSubstr("not a directory"));
  auto good = parse_yaml("- type: ndjson\n  path: new/dir/out.ndjson\n");
  EXPECT_NO_THROW(good.sinks.at(0).spec->preflight(delivery::SinkContext{dir.path(), "ndjson"}));
}

TEST(NdjsonSink, OpenFailureNamesThePath) {
  TempDir dir;
  std::ofstream(dir.file("file")) << "x";
  auto s = make_sink("- type: ndjson\n  path: " + dir.file("file") + "/out.ndjson\n", dir.path());
  ASSERT_TRUE(s);
  const std::string why = thrown_by([&] { s->open(); });
  EXPECT_THAT(why, HasSubstr("out.ndjson"));
}

}  // namespace
