#pragma once
// The names of an enum's values, read both ways. The enum's values run 0, 1, ...
// and the table lists their names in the order the enum declares them:
//
//   enum class Level { debug, info };
//   constexpr std::array<std::string_view, 2> levels{"debug", "info"};
//   static_assert(util::names_each(levels, Level::info));
//   util::name_of(levels, Level::info, "?");   // "info"
//   util::value_of<Level>(levels, "debug");    // Level::debug
#include <array>
#include <cstddef>
#include <optional>
#include <string_view>

namespace groupwatch::util {

/// The name of `v`; `other` for a value beyond the table. The names are
/// string literals, so `.data()` of the result ends in a NUL.
template <typename E, std::size_t N>
constexpr std::string_view name_of(const std::array<std::string_view, N>& names, E v, std::string_view other) {
  const auto i = static_cast<std::size_t>(v);
  return i < N ? names[i] : other;
}

/// The value called `name`; nullopt for a name the table does not hold.
template <typename E, std::size_t N>
constexpr std::optional<E> value_of(const std::array<std::string_view, N>& names, std::string_view name) {
  for (std::size_t i = 0; i < N; ++i) {
    if (names[i] == name) return static_cast<E>(i);
  }
  return std::nullopt;
}

/// True when `names` holds one name, different from the others, for each value
/// 0 .. `last`. Meant for a static_assert beside the table: it fails when a
/// value is added before `last` or a name is left out or written twice. (A
/// value added after `last` needs `last` moved with it; the order of the names
/// is the reader's to check against the enum.)
template <typename E, std::size_t N>
constexpr bool names_each(const std::array<std::string_view, N>& names, E last) {
  if (static_cast<std::size_t>(last) + 1 != N) return false;
  for (std::size_t i = 0; i < N; ++i) {
    for (std::size_t j = i + 1; j < N; ++j) {
      if (names[i] == names[j]) return false;
    }
  }
  return true;
}

}  // namespace groupwatch::util
