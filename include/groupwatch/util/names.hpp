#pragma once
// The names of an enum's values: one table per enum, read both ways.
//
//   constexpr std::array<util::Named<Level>, 2> level_names{{{"debug", Level::debug}, {"info", Level::info}}};
//   static_assert(util::names_each_once(level_names, Level::info));
//   util::name_of(level_names, Level::info, "?");   // "info"
//   util::value_of(level_names, "debug");           // Level::debug
#include <array>
#include <cstddef>
#include <optional>
#include <string_view>
#include <utility>

namespace groupwatch::util {

template <typename E>
using Named = std::pair<std::string_view, E>;

/// The name `table` gives `v`; `other` when it gives none. The names are
/// string literals, so `.data()` of the result ends in a NUL.
template <typename E, std::size_t N>
constexpr std::string_view name_of(const std::array<Named<E>, N>& table, E v, std::string_view other) {
  for (const auto& [name, e] : table) {
    if (e == v) return name;
  }
  return other;
}

/// The value `table` calls `name`; nullopt for a name it does not hold.
template <typename E, std::size_t N>
constexpr std::optional<E> value_of(const std::array<Named<E>, N>& table, std::string_view name) {
  for (const auto& [n, e] : table) {
    if (n == name) return e;
  }
  return std::nullopt;
}

/// For enums whose values run 0, 1, ... up to `last`: true when `table` names
/// each of them exactly once, and no other value. Meant for a static_assert
/// beside the table, which then fails when a value is added before `last` or
/// left out. (A value added after `last` needs `last` moved with it.)
template <typename E, std::size_t N>
constexpr bool names_each_once(const std::array<Named<E>, N>& table, E last) {
  if (static_cast<std::size_t>(last) + 1 != N) return false;
  std::array<bool, N> seen{};
  for (const auto& entry : table) {
    const auto i = static_cast<std::size_t>(entry.second);
    if (i >= N || seen[i]) return false;
    seen[i] = true;
  }
  return true;
}

}  // namespace groupwatch::util
