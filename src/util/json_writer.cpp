#include "groupwatch/util/json_writer.hpp"

#include <cmath>

#include <fmt/format.h>

#include "groupwatch/util/text.hpp"

namespace groupwatch {

void JsonWriter::element() {
  if (!first_) out_ += ',';
  first_ = false;
}

void JsonWriter::member(std::string_view key) {
  element();
  append_json_string(out_, key);
  out_ += ':';
}

JsonWriter& JsonWriter::open(char bracket, const std::string_view* key) {
  if (key) {
    member(*key);
  } else if (!open_.empty()) {
    element();
  }
  out_ += bracket;
  open_.push_back(bracket == '{' ? '}' : ']');
  first_ = true;
  return *this;
}

JsonWriter& JsonWriter::end() {
  if (open_.empty()) return *this;
  out_ += open_.back();
  open_.pop_back();
  first_ = false;
  return *this;
}

namespace {
void number(std::string& out, double v) {
  if (std::isfinite(v)) {
    fmt::format_to(std::back_inserter(out), "{}", v);
  } else {
    out += "null";
  }
}
}  // namespace

JsonWriter& JsonWriter::num(std::string_view key, double v) {
  member(key);
  number(out_, v);
  return *this;
}

JsonWriter& JsonWriter::str(std::string_view key, std::string_view v) {
  member(key);
  append_json_string(out_, v);
  return *this;
}

JsonWriter& JsonWriter::flag(std::string_view key, bool v) {
  member(key);
  out_ += v ? "true" : "false";
  return *this;
}

JsonWriter& JsonWriter::raw(std::string_view key, std::string_view json) {
  member(key);
  out_ += json;
  return *this;
}

JsonWriter& JsonWriter::num(double v) {
  element();
  number(out_, v);
  return *this;
}

JsonWriter& JsonWriter::str(std::string_view v) {
  element();
  append_json_string(out_, v);
  return *this;
}

}  // namespace groupwatch
