#pragma once
// The emulator's inputs: apps and groups from files, and the command line.
// Loaders throw std::runtime_error with "FILE: what is wrong" (never a secret).
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "groupwatch/emulator/server.hpp"

namespace groupwatch::emulator {

/// A YAML list of {sdkappid, secret_key, admin (default administrator), qps (default 200)}.
std::vector<App> load_apps_yaml(const std::string& path);
/// Text, one group ID a line, '#' starts a comment; every group is Community.
std::vector<Group> load_groups_text(const std::string& path);
/// A YAML list of {id, type: Community|Public|Private|ChatRoom|AVChatRoom,
/// fault: none|10002|502|reset|stall|malformed|10010, name: any UTF-8}
/// (or of bare IDs).
std::vector<Group> load_groups_yaml(const std::string& path);

inline constexpr std::string_view demo_secret_key = "demo-secret-key-0123456789abcdef";
inline constexpr std::uint64_t demo_sdkappid = 1400000001;

struct CommandLine {
  Options server;
  std::string write_ca;      // where to write the certificate (PEM)
  std::string write_groups;  // where to write the known group IDs (text)
  bool help = false;
  bool version = false;
};
/// Parses the arguments after the program name and loads the files they name.
/// Returns nullopt with `error` set on bad input.
std::optional<CommandLine> parse_command_line(std::span<const char* const> args, std::string* error);
std::string usage();

}  // namespace groupwatch::emulator
