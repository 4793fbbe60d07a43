// ndjson: one line of interface.md's result format per result, appended to a
// file (or stdout), with optional size-based rotation.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "groupwatch/delivery/sink.hpp"
#include "sinks/ndjson/ndjson.hpp"

namespace groupwatch::sinks::ndjson {
namespace {

namespace fs = std::filesystem;

std::string os_error(int err) {
  return std::strerror(err);
}

class NdjsonSink final : public delivery::Sink {
 public:
  NdjsonSink(Settings s, std::string path) : s_(std::move(s)), path_(std::move(path)) {}
  ~NdjsonSink() override {
    if (fd_ > 2) ::close(fd_);
  }

  void open() override { reopen(); }

  void write(std::span<const delivery::Result> batch) override {
    if (fd_ < 0) reopen();
    // Kept between batches, up to 1 MiB: its capacity serves the next one.
    if (buf_.capacity() > (1u << 20)) std::string().swap(buf_);
    std::string& buf = buf_;
    buf.clear();
    for (auto& r : batch) {
      delivery::append_json_line(buf, r);
      buf += '\n';
    }
    if (stdout_) {
      write_all(buf);
      return;
    }
    if (s_.max_size > 0 && size_ > 0 && size_ + buf.size() > s_.max_size) rotate();
    write_all(buf);
    // EINVAL: the path is not a regular file (/dev/null, a pipe): nothing to sync.
    if (s_.fsync && ::fdatasync(fd_) != 0 && errno != EINVAL) fail("cannot sync", errno);
  }

 private:
  [[noreturn]] void fail(const char* what, int err) {
    throw std::runtime_error(std::string("ndjson: ") + what + " '" + path_ + "': " + os_error(err));
  }

  void reopen() {
    if (path_ == "-") {
      fd_ = STDOUT_FILENO;
      stdout_ = true;
      return;
    }
    if (fd_ > 2) ::close(fd_);
    fd_ = -1;
    std::error_code ec;
    auto dir = fs::path(path_).parent_path();
    if (!dir.empty()) fs::create_directories(dir, ec);
    int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) fail("cannot open", errno);
    fd_ = fd;
    struct stat st {};
    if (::fstat(fd_, &st) != 0) fail("cannot stat", errno);
    size_ = static_cast<std::uint64_t>(st.st_size);
    drop_partial_tail();
  }

  // A crash inside a write can leave half a line at the end of the file:
  // cut it so that every line stays valid JSON.
  void drop_partial_tail() {
    if (size_ == 0) return;
    std::uint64_t from = size_ > 65536 ? size_ - 65536 : 0;
    std::string tail(static_cast<std::size_t>(size_ - from), '\0');
    ssize_t n = ::pread(fd_, tail.data(), tail.size(), static_cast<off_t>(from));
    if (n != static_cast<ssize_t>(tail.size()) || tail.back() == '\n') return;
    auto nl = tail.rfind('\n');
    std::uint64_t keep = nl == std::string::npos ? from : from + nl + 1;
    if (nl == std::string::npos && from > 0) return;  // a huge line; leave it alone
    if (::ftruncate(fd_, static_cast<off_t>(keep)) == 0) size_ = keep;
  }

  // On a short write, retries the remainder; on an error, cuts the file back
  // so that no partial line stays behind.
  void write_all(std::string_view data) {
    std::uint64_t before = size_;
    while (!data.empty()) {
      ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        int err = n < 0 ? errno : EIO;
        if (!stdout_ && ::ftruncate(fd_, static_cast<off_t>(before)) == 0) size_ = before;
        fail("cannot write", err);
      }
      data.remove_prefix(static_cast<std::size_t>(n));
      size_ += static_cast<std::uint64_t>(n);
    }
  }

  void rotate() {
    ::close(fd_);
    fd_ = -1;
    if (s_.keep == 0) {
      ::unlink(path_.c_str());
    } else {
      for (std::uint64_t i = s_.keep; i > 1; --i) {
        std::string from = path_ + "." + std::to_string(i - 1);
        std::string to = path_ + "." + std::to_string(i);
        if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT) fail("cannot rotate", errno);
      }
      if (::rename(path_.c_str(), (path_ + ".1").c_str()) != 0 && errno != ENOENT) fail("cannot rotate", errno);
    }
    reopen();
  }

  Settings s_;
  std::string path_;
  int fd_ = -1;
  bool stdout_ = false;
  std::string buf_;  // a batch's lines, reused
  std::uint64_t size_ = 0;
};

class NdjsonSpec final : public delivery::SpecOf<Settings> {
 public:
  using SpecOf::SpecOf;
  std::string describe() const override {
    std::string d = "ndjson " + (s_.path == "-" ? std::string("stdout") : s_.path);
    if (s_.max_size > 0)
      d += " (rotate at " + std::to_string(s_.max_size) + " bytes, keep " + std::to_string(s_.keep) + ")";
    return d;
  }
  void preflight(const delivery::SinkContext& ctx) const override {
    if (s_.path != "-") delivery::check_creatable("ndjson", resolve_path(s_.path, ctx.state_dir));
  }
  std::unique_ptr<delivery::Sink> create(const delivery::SinkContext& ctx) const override {
    return std::make_unique<NdjsonSink>(s_, s_.path == "-" ? s_.path : resolve_path(s_.path, ctx.state_dir));
  }
};

}  // namespace

std::string resolve_path(const std::string& path, const std::string& state_dir) {
  if (path.empty() || path.front() == '/' || state_dir.empty()) return path;
  return (fs::path(state_dir) / path).string();
}

std::unique_ptr<delivery::SinkSpec> parse(config::MapReader& r) {
  return delivery::make_spec<NdjsonSpec, Settings>(r, [&](Settings& s) {
    r.string("path", s.path, true);
    if (r.has("path") && s.path.empty()) r.error_at("path", "path must not be empty");
    r.bytes("max_size", s.max_size);
    std::int64_t keep = 0;
    if (r.integer("keep", keep, 0, 1000)) s.keep = static_cast<std::uint64_t>(keep);
    r.boolean("fsync", s.fsync);
  });
}

}  // namespace groupwatch::sinks::ndjson

GW_REGISTER_SINK(ndjson, "one JSON line per result to a file (rotated by size) or stdout",
                 {{"path", "file to append to, relative to state_dir; \"-\" for stdout (required)"},
                  {"max_size", "rotate when the file reaches this size, e.g. 100MiB (default 0: never)"},
                  {"keep", "rotated files kept: path.1 .. path.KEEP (default 5)"},
                  {"fsync", "fdatasync after every batch (default true)"}});
