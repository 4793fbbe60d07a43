#include "groupwatch/util/names.hpp"

#include <gtest/gtest.h>

namespace groupwatch::util {
namespace {

enum class Colour { red, green, blue };

constexpr std::array<Named<Colour>, 3> colours{
    {{"red", Colour::red}, {"green", Colour::green}, {"blue", Colour::blue}}};

TEST(Names, ReadBothWays) {
  EXPECT_EQ(name_of(colours, Colour::green, "?"), "green");
  EXPECT_EQ(name_of(colours, Colour::blue, "?"), "blue");
  EXPECT_EQ(name_of(colours, static_cast<Colour>(7), "?"), "?");
  EXPECT_EQ(value_of(colours, "red"), Colour::red);
  EXPECT_EQ(value_of(colours, "blue"), Colour::blue);
  EXPECT_EQ(value_of(colours, "Blue"), std::nullopt);
  EXPECT_EQ(value_of(colours, ""), std::nullopt);
}

TEST(Names, TheFirstOfTwoEqualNamesWins) {
  constexpr std::array<Named<Colour>, 2> twice{{{"x", Colour::red}, {"x", Colour::blue}}};
  EXPECT_EQ(value_of(twice, "x"), Colour::red);
}

TEST(Names, EachOnceHoldsOnlyForACompleteTable) {
  static_assert(names_each_once(colours, Colour::blue));
  // One value left out, counted against the last value:
  constexpr std::array<Named<Colour>, 2> no_blue{{{"red", Colour::red}, {"green", Colour::green}}};
  EXPECT_FALSE(names_each_once(no_blue, Colour::blue));
  // A value named twice (and so another not at all):
  constexpr std::array<Named<Colour>, 3> green_twice{
      {{"red", Colour::red}, {"green", Colour::green}, {"verde", Colour::green}}};
  EXPECT_FALSE(names_each_once(green_twice, Colour::blue));
  // A value beyond the last:
  constexpr std::array<Named<Colour>, 3> beyond{
      {{"red", Colour::red}, {"green", Colour::green}, {"grey", static_cast<Colour>(3)}}};
  EXPECT_FALSE(names_each_once(beyond, Colour::blue));
  // A table right for a shorter enum, asked about a longer one:
  EXPECT_FALSE(names_each_once(colours, static_cast<Colour>(3)));
}

}  // namespace
}  // namespace groupwatch::util
