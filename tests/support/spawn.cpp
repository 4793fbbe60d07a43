#include "support/spawn.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <system_error>

extern char** environ;

namespace groupwatch::testing {
namespace {

class FileActions {
 public:
  FileActions() { posix_spawn_file_actions_init(&fa_); }
  ~FileActions() { posix_spawn_file_actions_destroy(&fa_); }
  FileActions(const FileActions&) = delete;
  FileActions& operator=(const FileActions&) = delete;
  posix_spawn_file_actions_t* get() { return &fa_; }

  void output(int target, const std::string& file, int fd) {
    if (!file.empty()) {
      posix_spawn_file_actions_addopen(&fa_, target, file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    } else if (fd >= 0) {
      posix_spawn_file_actions_adddup2(&fa_, fd, target);
    }
  }

 private:
  posix_spawn_file_actions_t fa_;
};

std::vector<std::string> environment(const std::map<std::string, std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry = *e;
    auto eq = entry.find('=');
    if (eq != std::string::npos && extra.count(entry.substr(0, eq)) != 0) continue;
    env.push_back(std::move(entry));
  }
  for (const auto& [k, v] : extra) env.push_back(k + "=" + v);
  return env;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> p;
  p.reserve(strings.size() + 1);
  for (auto& s : strings) p.push_back(s.data());
  p.push_back(nullptr);
  return p;
}

}  // namespace

pid_t spawn(const std::vector<std::string>& argv, const SpawnOptions& options) {
  FileActions fa;
  posix_spawn_file_actions_addopen(fa.get(), 0, "/dev/null", O_RDONLY, 0);
  fa.output(1, options.stdio.out_file, options.stdio.out_fd);
  fa.output(2, options.stdio.err_file, options.stdio.err_fd);
  // Nothing of the test process (listeners, connections, pipes) lives on.
  posix_spawn_file_actions_addclosefrom_np(fa.get(), 3);
  std::vector<std::string> args = argv;
  std::vector<std::string> env = environment(options.env);
  auto arg_ptrs = pointers(args);
  auto env_ptrs = pointers(env);
  pid_t pid = -1;
  int rc = options.search_path ? posix_spawnp(&pid, arg_ptrs[0], fa.get(), nullptr, arg_ptrs.data(), env_ptrs.data())
                               : posix_spawn(&pid, arg_ptrs[0], fa.get(), nullptr, arg_ptrs.data(), env_ptrs.data());
  if (rc != 0) throw std::system_error(rc, std::generic_category(), "cannot start " + argv.at(0));
  return pid;
}

bool takes_signal(pid_t pid, int sig) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  const unsigned long long bit = 1ULL << (sig - 1);
  while (std::getline(status, line)) {
    if (line.rfind("SigBlk:", 0) != 0 && line.rfind("SigCgt:", 0) != 0) continue;
    if ((std::stoull(line.substr(7), nullptr, 16) & bit) != 0) return true;
  }
  return false;
}

}  // namespace groupwatch::testing
