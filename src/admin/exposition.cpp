#include "groupwatch/admin/exposition.hpp"

#include <array>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

#include "groupwatch/util/names.hpp"

namespace groupwatch::admin {

namespace {
// Backslash and line feed always; the double quote only inside a label value.
std::string escape(std::string_view v, bool quote) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}
}  // namespace

std::string escape_label_value(std::string_view v) {
  return escape(v, true);
}

std::string escape_help(std::string_view v) {
  return escape(v, false);
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

namespace {

using Type = Exposition::Type;
constexpr std::array<std::string_view, 4> types{"counter", "gauge", "histogram", "untyped"};
static_assert(util::names_each(types, Type::untyped));

std::string_view type_name(Type t) {
  return util::name_of(types, t, "untyped");
}

void write_series(std::string& out, std::string_view name, std::string_view suffix, std::span<const Label> labels,
                  const Label* extra, std::string_view value) {
  out += name;
  out += suffix;
  if (!labels.empty() || extra) {
    out += '{';
    bool first = true;
    auto one = [&](const Label& l) {
      if (!first) out += ',';
      first = false;
      out += l.first;
      out += "=\"";
      out += escape_label_value(l.second);
      out += '"';
    };
    for (const auto& l : labels) one(l);
    if (extra) one(*extra);
    out += '}';
  }
  out += ' ';
  out += value;
  out += '\n';
}

}  // namespace

Exposition::Family& Exposition::find(std::string_view name) {
  for (auto& f : families_)
    if (f.name == name) return f;
  throw std::logic_error("metric family '" + std::string(name) + "' was not declared");
}

void Exposition::family(std::string_view name, Type type, std::string_view help) {
  for (auto& f : families_)
    if (f.name == name) return;
  families_.push_back(Family{std::string(name), type, std::string(help), {}});
}

void Exposition::sample(std::string_view name, std::initializer_list<Label> labels, double value) {
  sample(name, std::span<const Label>(labels.begin(), labels.size()), value);
}

void Exposition::sample(std::string_view name, std::span<const Label> labels, double value) {
  auto& f = find(name);
  write_series(f.body, f.name, "", labels, nullptr, format_value(value));
}

void Exposition::histogram(std::string_view name, std::initializer_list<Label> labels, std::span<const double> bounds,
                           std::span<const std::uint64_t> counts, double sum) {
  auto& f = find(name);
  std::span<const Label> ls(labels.begin(), labels.size());
  std::uint64_t total = 0;
  for (auto c : counts) total += c;
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (i < counts.size()) cumulative += counts[i];
    std::string le = format_value(bounds[i]);
    Label extra{"le", le};
    write_series(f.body, f.name, "_bucket", ls, &extra, std::to_string(cumulative));
  }
  Label inf{"le", "+Inf"};
  write_series(f.body, f.name, "_bucket", ls, &inf, std::to_string(total));
  write_series(f.body, f.name, "_sum", ls, nullptr, format_value(sum));
  write_series(f.body, f.name, "_count", ls, nullptr, std::to_string(total));
}

std::string Exposition::str() const {
  std::string out;
  for (const auto& f : families_) {
    out += "# HELP " + f.name + " " + escape_help(f.help) + "\n";
    out += "# TYPE " + f.name + " " + std::string(type_name(f.type)) + "\n";
    out += f.body;
  }
  return out;
}

}  // namespace groupwatch::admin
