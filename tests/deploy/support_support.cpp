// (named *_support.cpp so that tests/CMakeLists.txt links it into gw_test_deploy)
#include "deploy/support.hpp"

#include <cctype>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace groupwatch::deploy_test {

namespace fs = std::filesystem;

RunResult run(const std::string& command) {
  return gw_test::run({"/bin/sh", "-c", command}, {.timeout = std::chrono::minutes(10), .merge_output = true});
}

bool have_program(const std::string& program) {
  return run("command -v " + shell_quote(program) + " >/dev/null").status == 0;
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string read_file(const fs::path& path) {
  if (!std::ifstream(path, std::ios::binary)) throw std::runtime_error("cannot read " + path.string());
  return gw_test::read_file(path);
}

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

namespace {
std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}
}  // namespace

UnitFile parse_unit(const std::string& text) {
  UnitFile unit;
  std::string section;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    const auto t = trim(line);
    if (t.empty() || t[0] == '#' || t[0] == ';') continue;
    if (t.front() == '[' && t.back() == ']') {
      section = t.substr(1, t.size() - 2);
      unit[section];
      continue;
    }
    const auto eq = t.find('=');
    if (eq == std::string::npos) throw std::invalid_argument("unit line without '=': " + t);
    unit[section][trim(std::string_view(t).substr(0, eq))].push_back(trim(std::string_view(t).substr(eq + 1)));
  }
  return unit;
}

namespace {

bool ident_start(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) != 0 || c == '_' || c == ':';
}
bool ident_char(char c) {
  return ident_start(c) || std::isdigit(static_cast<unsigned char>(c)) != 0;
}

// Words that are PromQL syntax rather than metric names.
const std::set<std::string>& keywords() {
  static const std::set<std::string> k = {"and",        "or",          "unless", "by",     "without", "on",  "ignoring",
                                          "group_left", "group_right", "bool",   "offset", "inf",     "nan", "atan2"};
  return k;
}

// Words after which a parenthesised list holds label names.
const std::set<std::string>& label_list_words() {
  static const std::set<std::string> k = {"by", "without", "on", "ignoring", "group_left", "group_right"};
  return k;
}

std::size_t skip_quoted(const std::string& e, std::size_t i) {
  const char q = e[i];
  for (++i; i < e.size(); ++i) {
    if (e[i] == '\\') {
      ++i;
    } else if (e[i] == q) {
      return i + 1;
    }
  }
  throw std::invalid_argument("unterminated string in: " + e);
}

std::size_t skip_until(const std::string& e, std::size_t i, char close) {
  for (; i < e.size(); ++i) {
    if (e[i] == '"' || e[i] == '\'' || e[i] == '`') {
      i = skip_quoted(e, i) - 1;
    } else if (e[i] == close) {
      return i + 1;
    }
  }
  throw std::invalid_argument(std::string("missing '") + close + "' in: " + e);
}

// True when the word starting at `j` is `by` or `without` (then the word before it is an
// aggregation operator, not a metric).
bool followed_by_grouping(const std::string& e, std::size_t j) {
  auto k = j;
  while (k < e.size() && ident_char(e[k])) ++k;
  std::string next = e.substr(j, k - j);
  for (auto& ch : next) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return next == "by" || next == "without";
}

}  // namespace

std::set<std::string> promql_metric_names(const std::string& e) {
  std::set<std::string> names;
  int depth = 0;
  std::size_t i = 0;
  while (i < e.size()) {
    const char c = e[i];
    if (c == '"' || c == '\'' || c == '`') {
      i = skip_quoted(e, i);
    } else if (c == '{') {
      i = skip_until(e, i + 1, '}');  // label matchers
    } else if (c == '[') {
      i = skip_until(e, i + 1, ']');  // ranges and subqueries
    } else if (c == '$') {            // Grafana variable: $x, ${x}, $__rate_interval
      ++i;
      if (i < e.size() && e[i] == '{') {
        i = skip_until(e, i + 1, '}');
      } else {
        while (i < e.size() && ident_char(e[i])) ++i;
      }
    } else if (std::isdigit(static_cast<unsigned char>(c)) != 0 ||
               (c == '.' && i + 1 < e.size() && std::isdigit(static_cast<unsigned char>(e[i + 1])))) {
      // Numbers and durations (0.99, 5m, 1e3, 0x1f).
      while (i < e.size() && (ident_char(e[i]) || e[i] == '.')) ++i;
    } else if (ident_start(c)) {
      const auto start = i;
      while (i < e.size() && ident_char(e[i])) ++i;
      std::string word = e.substr(start, i - start);
      auto j = i;
      while (j < e.size() && std::isspace(static_cast<unsigned char>(e[j]))) ++j;
      std::string lower = word;
      for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (label_list_words().count(lower) != 0) {
        if (j < e.size() && e[j] == '(') i = skip_until(e, j + 1, ')');
      } else if (keywords().count(lower) != 0) {
        // syntax
      } else if (j < e.size() && e[j] == '(') {
        // a function or aggregation; its arguments are scanned on
      } else if (followed_by_grouping(e, j)) {
        // an aggregation written `sum by (x) (...)`
      } else {
        names.insert(word);
      }
    } else {
      if (c == '(') ++depth;
      if (c == ')' && --depth < 0) throw std::invalid_argument("unbalanced ')' in: " + e);
      ++i;
    }
  }
  if (depth != 0) throw std::invalid_argument("unbalanced '(' in: " + e);
  return names;
}

fs::path deploy_dir() {
  return fs::path(GW_SOURCE_DIR) / "deploy";
}

RunResult write_emulator_ca(const fs::path& ca) {
  return run(shell_quote(GW_EMULATOR_BIN) + " --listen 127.0.0.1:0 --write-ca " + shell_quote(ca.string()) +
             " >/dev/null & pid=$!; for i in $(seq 200); do [ -s " + shell_quote(ca.string()) +
             " ] && break; sleep 0.05; done; kill $pid; wait $pid; true");
}

}  // namespace groupwatch::deploy_test
