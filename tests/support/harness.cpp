#include "support/harness.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

namespace gw_test {

TempDir::TempDir(const std::string& prefix) {
  std::string tmpl = (fs::temp_directory_path() / (prefix + "-XXXXXX")).string();
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::system_error(errno, std::generic_category(), "mkdtemp " + tmpl);
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  if (std::getenv("GW_KEEP_TMP") == nullptr) fs::remove_all(path_, ec);
}

void TempDir::write(const std::string& name, const std::string& text) const {
  std::ofstream(path_ / name, std::ios::binary | std::ios::trunc) << text;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream ss(text);
  std::string line;
  while (std::getline(ss, line))
    if (!line.empty()) out.push_back(line);
  return out;
}

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

std::vector<std::string> missing_from(const std::string& text, std::initializer_list<std::string_view> parts) {
  std::vector<std::string> missing;
  for (auto part : parts) {
    if (text.find(part) == std::string::npos) missing.emplace_back(part);
  }
  return missing;
}

std::string thrown_by(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(nothing thrown)";
}

std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot find a free port");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds limit, std::chrono::milliseconds every) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(every);
  }
  return done();
}

double now_unix() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void sleep_s(double seconds) {
  if (seconds > 0) std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
}

void sleep_until_cycle_offset(double interval, double offset) {
  double t = now_unix();
  double next = std::floor(t / interval) * interval + interval + offset;
  if (next - t > interval) next -= interval;
  sleep_s(next - t);
}

// ---- Process

namespace {

groupwatch::testing::SpawnOptions to_files(const std::string& out_file, const std::string& err_file,
                                           const std::map<std::string, std::string>& env) {
  groupwatch::testing::SpawnOptions so;
  so.stdio.out_file = out_file;
  so.stdio.err_file = err_file;
  so.env = env;
  return so;
}

}  // namespace

Process::Process(const std::vector<std::string>& argv, const std::string& out_file, const std::string& err_file,
                 const std::map<std::string, std::string>& env)
    : Process(argv, to_files(out_file, err_file, env)) {}

Process::Process(const std::vector<std::string>& argv, const groupwatch::testing::SpawnOptions& options)
    : pid_(groupwatch::testing::spawn(argv, options)) {}

Process::~Process() {
  if (pid_ > 0 && !done_) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

void Process::signal(int sig) const {
  ::kill(pid_, sig);
}

int Process::wait(std::chrono::milliseconds timeout) {
  if (done_) return status_;
  auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      done_ = true;
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -2;
      return status_;
    }
    if (std::chrono::steady_clock::now() >= until) return -1;
    std::this_thread::sleep_for(10ms);
  }
}

int Process::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0 || done_) return status_;
  ::kill(pid_, SIGTERM);
  if (wait(grace) == -1) {
    ::kill(pid_, SIGKILL);
    wait(5s);
  }
  return status_;
}

// ---- run

namespace {

// An anonymous in-memory file for a child's output, closed with the object.
class Capture {
 public:
  Capture() : fd_(::memfd_create("gw-test-run", MFD_CLOEXEC)) {
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "memfd_create");
  }
  ~Capture() { ::close(fd_); }
  Capture(const Capture&) = delete;
  Capture& operator=(const Capture&) = delete;
  int fd() const { return fd_; }
  std::string text() const {
    std::string out;
    char buf[8192];
    for (off_t at = 0;;) {
      ssize_t n = ::pread(fd_, buf, sizeof buf, at);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
      at += n;
    }
    return out;
  }

 private:
  int fd_;
};

}  // namespace

RunResult run(const std::vector<std::string>& argv, const RunOptions& options) {
  Capture out, err;
  groupwatch::testing::SpawnOptions so;
  so.stdio.out_fd = out.fd();
  so.stdio.err_fd = options.merge_output ? out.fd() : err.fd();
  so.env = options.env;
  so.search_path = true;
  RunResult r;
  std::string failure;
  try {
    Process p(argv, so);
    r.status = p.wait(options.timeout);
  } catch (const std::system_error& e) {
    r.status = 127;
    failure = "cannot run " + argv.at(0) + ": " + e.code().message();
  }
  r.out = out.text();
  if (!options.merge_output) r.err = err.text();
  (options.merge_output ? r.out : r.err) += failure;
  return r;
}

}  // namespace gw_test
