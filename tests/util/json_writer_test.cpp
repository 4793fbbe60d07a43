// The status document's writer: commas and brackets by construction,
// numbers as before (integers exact, doubles in their shortest form,
// non-finite as null), strings escaped.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

#include "groupwatch/util/json_writer.hpp"

using groupwatch::JsonWriter;

TEST(JsonWriter, NestsObjectsAndArraysWithTheirCommas) {
  std::string out;
  JsonWriter w(out);
  w.object().str("name", "a\"b").num("n", std::uint64_t{1400000001}).flag("ok", true).array("list");
  w.num(1).num(2.5).str("x");
  w.end().object("inner").num("code", std::int64_t{-1}).end().array("empty").end().raw("raw", "{\"t\":[1]}").end();
  EXPECT_EQ(out, R"({"name":"a\"b","n":1400000001,"ok":true,"list":[1,2.5,"x"],"inner":{"code":-1},"empty":[],)"
                 R"("raw":{"t":[1]}})");
}

TEST(JsonWriter, ArraysOfObjectsAndNumbersLikeBefore) {
  std::string out;
  JsonWriter w(out);
  w.array();
  w.object().num("a", 0.1).end();
  w.object().num("b", std::numeric_limits<double>::infinity()).num("c", 200.0).num("d", 1e-7).end();
  w.end();
  // 200.0 stays 200 (not 2E2), a non-finite number is null.
  EXPECT_EQ(out, R"([{"a":0.1},{"b":null,"c":200,"d":1e-07}])");
}

TEST(JsonWriter, AnEmptyKeyIsAKey) {
  std::string out;
  JsonWriter w(out);
  w.object().num("", 1).object("").end().end();
  EXPECT_EQ(out, R"({"":1,"":{}})");
}

TEST(JsonWriter, AnEndWithNothingOpenWritesNothing) {
  std::string out;
  JsonWriter w(out);
  w.object().end().end();
  EXPECT_EQ(out, "{}");
}
