#include "groupwatch/util/command_line.hpp"

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <map>
#include <set>
#include <stdexcept>

namespace groupwatch {

struct CommandLineParser::Impl {
  struct Handler {
    std::function<void()> on_flag;
    std::function<void(const std::string&)> on_value;
    std::size_t next = 0;  // the next of the option's values to hand over
  };
  CLI::App app;
  std::map<const CLI::Option*, Handler> handlers;
  std::function<std::string(const std::string&)> unknown, takes_no_value;
  std::set<std::string, std::less<>> flag_names;  // "--quiet": CLI11 would take "--quiet=no" as set

  Impl(std::function<std::string(const std::string&)> u, std::function<std::string(const std::string&)> t)
      : unknown(std::move(u)), takes_no_value(std::move(t)) {
    app.set_help_flag();  // each program has its own --help
    app.allow_extras();   // words and unknown options: told apart in parse()
    app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  }
};

CommandLineParser::CommandLineParser(std::function<std::string(const std::string&)> unknown,
                                     std::function<std::string(const std::string&)> takes_no_value)
    : impl_(std::make_unique<Impl>(std::move(unknown), std::move(takes_no_value))) {}
CommandLineParser::~CommandLineParser() = default;

void CommandLineParser::flag(const std::string& names, std::function<void()> on) {
  CLI::Option* opt = impl_->app.add_flag(names);
  for (const auto& name : opt->get_lnames()) impl_->flag_names.insert("--" + name);
  impl_->handlers[opt].on_flag = std::move(on);
}

void CommandLineParser::option(const std::string& names, std::function<void(const std::string&)> on_value) {
  impl_->handlers[impl_->app.add_option(names)].on_value = std::move(on_value);
}

std::vector<std::string> CommandLineParser::parse(std::span<const char* const> args) {
  // A flag takes no value: "--quiet=no" is not a flag of ours.
  for (std::string_view arg : args) {
    if (arg == "--") break;
    const auto eq = arg.find('=');
    if (arg.starts_with("--") && eq != std::string_view::npos && impl_->flag_names.contains(arg.substr(0, eq))) {
      const std::string flag(arg.substr(0, eq));
      throw std::runtime_error(impl_->takes_no_value ? impl_->takes_no_value(flag) : impl_->unknown(std::string(arg)));
    }
  }
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes them last first
  try {
    impl_->app.parse(reversed);
  } catch (const CLI::ArgumentMismatch& e) {
    // An option at the very end, without its value. CLI11's text starts
    // with the option's name: "--qps: 1 required TEXT missing".
    const std::string what = e.what();
    throw std::runtime_error(fmt::format("{} needs a value", what.substr(0, what.find(':'))));
  } catch (const CLI::ParseError& e) {
    throw std::runtime_error(e.what());
  }
  std::vector<std::string> words;
  bool only_words = false;  // after "--"
  for (auto& word : impl_->app.remaining()) {
    if (!only_words && word == "--") {
      only_words = true;
    } else if (!only_words && word.size() > 1 && word.front() == '-') {
      throw std::runtime_error(impl_->unknown(word));
    } else {
      words.push_back(std::move(word));
    }
  }
  for (const CLI::Option* opt : impl_->app.parse_order()) {
    auto& h = impl_->handlers.at(opt);
    if (h.on_flag) {
      h.on_flag();
    } else {
      try {
        h.on_value(opt->results().at(h.next++));
      } catch (const BadOptionValue& e) {
        throw std::runtime_error(fmt::format("{}: {}", opt->get_name(), e.what()));
      }
    }
  }
  return words;
}

}  // namespace groupwatch
