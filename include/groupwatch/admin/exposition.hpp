#pragma once
// A small builder for the Prometheus text exposition format 0.0.4: metric
// families with their HELP and TYPE lines, samples with escaped label values,
// histograms with cumulative buckets, _sum and _count. Samples added to a
// family in any order are written together, as the format requires.
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace groupwatch::admin {

using Label = std::pair<std::string_view, std::string_view>;

/// Escapes a label value: backslash, double quote and line feed.
std::string escape_label_value(std::string_view v);
/// Escapes HELP text: backslash and line feed.
std::string escape_help(std::string_view v);
/// A sample value: shortest round-trip form, "+Inf", "-Inf", "NaN".
std::string format_value(double v);

class Exposition {
 public:
  enum class Type { counter, gauge, histogram, untyped };

  /// Declares a family (idempotent: a second call with the same name adds to it).
  void family(std::string_view name, Type type, std::string_view help);
  /// One sample of family `name` (declared before).
  void sample(std::string_view name, std::initializer_list<Label> labels, double value);
  void sample(std::string_view name, std::span<const Label> labels, double value);
  /// One histogram series: `counts` per bucket (not cumulative), one per
  /// bound plus the +Inf bucket last; `bounds` in the metric's unit.
  void histogram(std::string_view name, std::initializer_list<Label> labels, std::span<const double> bounds,
                 std::span<const std::uint64_t> counts, double sum);

  /// The whole exposition, families in declaration order.
  std::string str() const;

  static constexpr std::string_view content_type = "text/plain; version=0.0.4; charset=utf-8";

 private:
  struct Family {
    std::string name;
    Type type;
    std::string help;
    std::string body;
  };
  Family& find(std::string_view name);
  std::vector<Family> families_;
};

}  // namespace groupwatch::admin
