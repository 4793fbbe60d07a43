#pragma once
// Writes a JSON document into a string as it goes: objects and arrays open
// and close, and the commas between members and elements come by
// themselves. For the small documents the daemon serves (/api/status, the
// emulator's stats); the hot path's NDJSON line keeps its own writer.
#include <concepts>
#include <string>
#include <string_view>
#include <vector>

namespace groupwatch {

class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}

  /// An object or array as an element (no key) or as a member (with one).
  JsonWriter& object() { return open('{', nullptr); }
  JsonWriter& object(std::string_view key) { return open('{', &key); }
  JsonWriter& array() { return open('[', nullptr); }
  JsonWriter& array(std::string_view key) { return open('[', &key); }
  /// Closes the innermost object or array.
  JsonWriter& end();

  /// Members. A number that is not finite is written as null.
  JsonWriter& num(std::string_view key, double v);
  template <std::integral T>
  requires(!std::same_as<T, bool>) JsonWriter& num(std::string_view key, T v) {
    member(key);
    out_ += std::to_string(v);
    return *this;
  }
  JsonWriter& str(std::string_view key, std::string_view v);
  JsonWriter& flag(std::string_view key, bool v);
  /// A member whose value is JSON already.
  JsonWriter& raw(std::string_view key, std::string_view json);

  /// Array elements.
  JsonWriter& num(double v);
  template <std::integral T>
  requires(!std::same_as<T, bool>) JsonWriter& num(T v) {
    element();
    out_ += std::to_string(v);
    return *this;
  }
  JsonWriter& str(std::string_view v);

 private:
  JsonWriter& open(char bracket, const std::string_view* key);
  void element();
  void member(std::string_view key);
  std::string& out_;
  std::vector<char> open_;  // the closing bracket of each open container
  bool first_ = true;       // nothing written yet in the innermost container
};

}  // namespace groupwatch
