#include "groupwatch/util/names.hpp"

#include <gtest/gtest.h>

namespace groupwatch::util {
namespace {

enum class Colour { red, green, blue };

constexpr std::array<std::string_view, 3> colours{"red", "green", "blue"};

TEST(Names, ReadBothWays) {
  EXPECT_EQ(name_of(colours, Colour::red, "?"), "red");
  EXPECT_EQ(name_of(colours, Colour::blue, "?"), "blue");
  EXPECT_EQ(name_of(colours, static_cast<Colour>(3), "?"), "?");
  EXPECT_EQ(value_of<Colour>(colours, "green"), Colour::green);
  EXPECT_EQ(value_of<Colour>(colours, "blue"), Colour::blue);
  EXPECT_EQ(value_of<Colour>(colours, "Blue"), std::nullopt);
  EXPECT_EQ(value_of<Colour>(colours, ""), std::nullopt);
}

TEST(Names, EachHoldsOnlyForOneDistinctNamePerValue) {
  static_assert(names_each(colours, Colour::blue));
  constexpr std::array<std::string_view, 2> short_by_one{"red", "green"};
  EXPECT_FALSE(names_each(short_by_one, Colour::blue));
  constexpr std::array<std::string_view, 3> a_name_twice{"red", "green", "red"};
  EXPECT_FALSE(names_each(a_name_twice, Colour::blue));
  // Right for a shorter enum, asked about a longer one:
  EXPECT_FALSE(names_each(colours, static_cast<Colour>(3)));
}

}  // namespace
}  // namespace groupwatch::util
