#pragma once
// Problems found in config and watchlist files, reported all at once as
// FILE:LINE:COL: message. Never holds a secret value.
#include <string>
#include <vector>

namespace groupwatch::config {

struct Mark {
  int line = 0;  // 1-based; 0 when unknown
  int col = 0;   // 1-based
};

struct Diagnostic {
  std::string file;
  Mark mark;
  std::string message;
  bool warning = false;
  /// "FILE:LINE:COL: error: message" or "FILE:LINE:COL: warning: message"
  std::string format() const;
};

class Diagnostics {
 public:
  void error(std::string file, Mark mark, std::string message);
  void warning(std::string file, Mark mark, std::string message);
  bool has_errors() const { return errors_ > 0; }
  int error_count() const { return errors_; }
  const std::vector<Diagnostic>& all() const { return items_; }
  /// Stable order: errors before warnings; within each, files in order of
  /// first appearance, then line and column.
  void sort();
  /// Appends every item of `other`.
  void merge(const Diagnostics& other);

 private:
  std::vector<Diagnostic> items_;
  int errors_ = 0;
};

}  // namespace groupwatch::config
