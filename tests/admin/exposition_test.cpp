#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "groupwatch/admin/exposition.hpp"

namespace {

using groupwatch::admin::escape_help;
using groupwatch::admin::escape_label_value;
using groupwatch::admin::Exposition;
using groupwatch::admin::format_value;

TEST(Exposition, EscapesLabelValues) {
  EXPECT_EQ(escape_label_value("plain"), "plain");
  EXPECT_EQ(escape_label_value(R"(a"b)"), R"(a\"b)");
  EXPECT_EQ(escape_label_value(R"(C:\dir)"), R"(C:\\dir)");
  EXPECT_EQ(escape_label_value("two\nlines"), R"(two\nlines)");
  EXPECT_EQ(escape_label_value("@TGS#_@TGS#cQVLVHIM62CJ"), "@TGS#_@TGS#cQVLVHIM62CJ");
}

TEST(Exposition, EscapesHelpButNotQuotes) {
  EXPECT_EQ(escape_help("say \"hi\"\\\n"), "say \"hi\"\\\\\\n");
}

TEST(Exposition, FormatsSpecialValues) {
  EXPECT_EQ(format_value(0), "0");
  EXPECT_EQ(format_value(42), "42");
  EXPECT_EQ(format_value(0.25), "0.25");
  EXPECT_EQ(format_value(1e21), "1e+21");
  EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(format_value(std::nan("")), "NaN");
}

TEST(Exposition, GroupsSamplesUnderOneHelpAndType) {
  Exposition e;
  e.family("a_total", Exposition::Type::counter, "First.");
  e.family("b", Exposition::Type::gauge, "Second.");
  e.sample("a_total", {{"app", "x"}}, 1);
  e.sample("b", {}, 2.5);
  e.sample("a_total", {{"app", "y\"z"}, {"outcome", "ok"}}, 3);
  e.family("a_total", Exposition::Type::counter, "ignored: already declared");
  EXPECT_EQ(e.str(),
            "# HELP a_total First.\n"
            "# TYPE a_total counter\n"
            "a_total{app=\"x\"} 1\n"
            "a_total{app=\"y\\\"z\",outcome=\"ok\"} 3\n"
            "# HELP b Second.\n"
            "# TYPE b gauge\n"
            "b 2.5\n");
}

TEST(Exposition, SampleOfAnUndeclaredFamilyIsAProgrammingError) {
  Exposition e;
  EXPECT_THROW(e.sample("nope", {}, 1), std::logic_error);
}

TEST(Exposition, HistogramHasCumulativeBucketsSumAndCount) {
  Exposition e;
  e.family("lat_seconds", Exposition::Type::histogram, "Latency.");
  std::vector<double> bounds{0.005, 0.01, 0.5};
  std::vector<std::uint64_t> counts{2, 0, 3, 1};  // the last is +Inf
  e.histogram("lat_seconds", {{"app", "a"}}, bounds, counts, 1.75);
  EXPECT_EQ(e.str(),
            "# HELP lat_seconds Latency.\n"
            "# TYPE lat_seconds histogram\n"
            "lat_seconds_bucket{app=\"a\",le=\"0.005\"} 2\n"
            "lat_seconds_bucket{app=\"a\",le=\"0.01\"} 2\n"
            "lat_seconds_bucket{app=\"a\",le=\"0.5\"} 5\n"
            "lat_seconds_bucket{app=\"a\",le=\"+Inf\"} 6\n"
            "lat_seconds_sum{app=\"a\"} 1.75\n"
            "lat_seconds_count{app=\"a\"} 6\n");
}

TEST(Exposition, HistogramWithNoObservationsStillHasEveryBucket) {
  Exposition e;
  e.family("h", Exposition::Type::histogram, "H.");
  std::vector<double> bounds{1, 2};
  e.histogram("h", {}, bounds, {}, 0);
  EXPECT_EQ(e.str(),
            "# HELP h H.\n# TYPE h histogram\n"
            "h_bucket{le=\"1\"} 0\nh_bucket{le=\"2\"} 0\nh_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n");
}

}  // namespace
