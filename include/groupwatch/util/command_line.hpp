#pragma once
// Command lines, split by CLI11 (long and short names, --opt=value, "--" to
// end the options) and handed back in the order they were written, so that
// each program says in its own words what is wrong with a value.
#include <functional>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace groupwatch {

/// What an option's handler throws for a bad value whose text should begin
/// with the option's name: the parser writes "--name: " before it.
struct BadOptionValue : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class CommandLineParser {
 public:
  /// `unknown` says what is wrong with an option the program does not have
  /// (given the word as written, =value included); `takes_no_value` what is
  /// wrong with one of its flags given a value (given the flag's name; when
  /// empty, `unknown` speaks of the whole word).
  explicit CommandLineParser(std::function<std::string(const std::string& word)> unknown,
                             std::function<std::string(const std::string& flag)> takes_no_value = {});
  ~CommandLineParser();
  CommandLineParser(const CommandLineParser&) = delete;
  CommandLineParser& operator=(const CommandLineParser&) = delete;

  /// NAMES as CLI11 takes them: "--plain" or "-q,--quiet".
  void flag(const std::string& names, std::function<void()> on);
  /// An option with one value, as often as it is written. `on_value` throws
  /// std::runtime_error saying what is wrong with a value (BadOptionValue to
  /// have the option's long name put before it).
  void option(const std::string& names, std::function<void(const std::string&)> on_value);

  /// Calls the handlers in the order the options were written, after the
  /// name-level checks. Returns the words that are not options, in order.
  /// Throws std::runtime_error: "--qps needs a value", what `unknown` says,
  /// or what a handler threw.
  std::vector<std::string> parse(std::span<const char* const> args);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace groupwatch
