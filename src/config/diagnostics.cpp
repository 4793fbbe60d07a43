#include "groupwatch/config/diagnostics.hpp"

#include <algorithm>
#include <unordered_map>
#include <utility>

namespace groupwatch::config {

std::string Diagnostic::format() const {
  std::string out = file;
  if (mark.line > 0) {
    out += ':' + std::to_string(mark.line) + ':' + std::to_string(mark.col > 0 ? mark.col : 1);
  }
  out += warning ? ": warning: " : ": error: ";
  out += message;
  return out;
}

void Diagnostics::error(std::string file, Mark mark, std::string message) {
  items_.push_back(Diagnostic{std::move(file), mark, std::move(message), false});
  ++errors_;
}

void Diagnostics::warning(std::string file, Mark mark, std::string message) {
  items_.push_back(Diagnostic{std::move(file), mark, std::move(message), true});
}

void Diagnostics::sort() {
  std::unordered_map<std::string, std::size_t> file_order;
  for (const auto& d : items_) file_order.emplace(d.file, file_order.size());
  std::stable_sort(items_.begin(), items_.end(), [&](const Diagnostic& a, const Diagnostic& b) {
    if (a.warning != b.warning) return !a.warning;  // errors first: they are what stops the start
    const auto fa = file_order[a.file];
    const auto fb = file_order[b.file];
    if (fa != fb) return fa < fb;
    if (a.mark.line != b.mark.line) return a.mark.line < b.mark.line;
    return a.mark.col < b.mark.col;
  });
}

void Diagnostics::merge(const Diagnostics& other) {
  for (const auto& d : other.items_) {
    items_.push_back(d);
    if (!d.warning) ++errors_;
  }
}

}  // namespace groupwatch::config
