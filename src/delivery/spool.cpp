#include "delivery/spool.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <stdexcept>

#include "groupwatch/util/events.hpp"
#include "groupwatch/util/log.hpp"

namespace groupwatch::delivery::detail {
namespace {

// A record larger than this is corruption, not data (a Result is ~200 bytes).
constexpr std::uint32_t kMaxPayload = 16u << 20;
constexpr std::size_t kChunk = 1u << 20;
constexpr std::uint64_t kHeadCheck = 0x9e3779b97f4a7c15ull;

std::string os_error(int err) {
  return std::strerror(err);
}

void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_str(std::string& out, std::string_view s) {
  put_u32(out, static_cast<std::uint32_t>(s.size()));
  out.append(s);
}

std::uint32_t get_u32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

struct Cursor {
  std::string_view in;
  bool ok = true;
  std::uint64_t u64() {
    if (in.size() < 8) return ok = false, 0;
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(in[i]);
    in.remove_prefix(8);
    return v;
  }
  std::uint8_t u8() {
    if (in.empty()) return ok = false, 0;
    auto v = static_cast<std::uint8_t>(in[0]);
    in.remove_prefix(1);
    return v;
  }
  std::uint32_t u32() {
    if (in.size() < 4) return ok = false, 0;
    std::uint32_t v = get_u32(in.data());
    in.remove_prefix(4);
    return v;
  }
  std::string str() {
    if (in.size() < 4) return ok = false, std::string();
    std::uint32_t n = get_u32(in.data());
    in.remove_prefix(4);
    if (in.size() < n) return ok = false, std::string();
    std::string s(in.substr(0, n));
    in.remove_prefix(n);
    return s;
  }
};

std::uint32_t checksum(std::string_view payload) {
  return static_cast<std::uint32_t>(
      crc32_z(crc32_z(0, nullptr, 0), reinterpret_cast<const Bytef*>(payload.data()), payload.size()));
}

// Reads exactly `len` bytes at `off`; false at EOF or on error.
bool pread_all(int fd, std::uint64_t off, char* buf, std::size_t len) {
  while (len > 0) {
    ssize_t n = ::pread(fd, buf, len, static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buf += n;
    len -= static_cast<std::size_t>(n);
    off += static_cast<std::uint64_t>(n);
  }
  return true;
}

void write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::system_error(errno, std::generic_category());
    if (n == 0) throw std::system_error(EIO, std::generic_category());
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

// Iterates the framed records of [from, to) of a file, in chunks.
class RecordReader {
 public:
  RecordReader(int fd, std::uint64_t from, std::uint64_t to) : fd_(fd), pos_(from), to_(to) {}
  std::uint64_t pos() const { return pos_; }
  // Returns false at the end or at a bad record (then bad() is true).
  bool next(std::string_view& payload) {
    if (pos_ >= to_) return false;
    if (!ensure(kRecordHeader)) return bad_ = true, false;
    const char* h = buf_.data() + (pos_ - buf_off_);
    std::uint32_t len = get_u32(h);
    std::uint32_t crc = get_u32(h + 4);
    if (len > kMaxPayload || !ensure(kRecordHeader + len)) return bad_ = true, false;
    payload = std::string_view(buf_.data() + (pos_ - buf_off_) + kRecordHeader, len);
    if (checksum(payload) != crc) return bad_ = true, false;
    pos_ += kRecordHeader + len;
    return true;
  }
  bool bad() const { return bad_; }

 private:
  bool ensure(std::size_t need) {
    if (pos_ + need > to_) return false;
    if (pos_ >= buf_off_ && pos_ + need <= buf_off_ + buf_.size()) return true;
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(std::max(need, kChunk), to_ - pos_));
    buf_.resize(want);
    buf_off_ = pos_;
    if (!pread_all(fd_, pos_, buf_.data(), want)) {
      buf_.clear();
      return false;
    }
    return true;
  }
  int fd_;
  std::uint64_t pos_;
  std::uint64_t to_;
  std::string buf_;
  std::uint64_t buf_off_ = 0;
  bool bad_ = false;
};

void sync_parent_dir(const std::string& path) {
  auto dir = std::filesystem::path(path).parent_path();
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  (void)::fsync(fd);
  ::close(fd);
}

}  // namespace

std::size_t encode_record(const Result& r, std::string& out) {
  std::string p;
  p.reserve(64 + r.app.size() + r.group_id.size() + r.error_info.size());
  put_u64(p, static_cast<std::uint64_t>(
                 std::chrono::duration_cast<std::chrono::nanoseconds>(r.time.time_since_epoch()).count()));
  put_str(p, r.app);
  put_u64(p, r.sdkappid);
  put_str(p, r.group_id);
  p.push_back(r.online_member_num ? 1 : 0);
  put_u64(p, r.online_member_num.value_or(0));
  put_u64(p, static_cast<std::uint64_t>(r.error_code));
  put_str(p, r.error_info);
  // Records from before names and labels end here; newer ones carry them
  // when the group has any.
  if (r.meta) {
    put_str(p, r.meta->name);
    put_u32(p, static_cast<std::uint32_t>(r.meta->labels.size()));
    for (const auto& [k, v] : r.meta->labels) {
      put_str(p, k);
      put_str(p, v);
    }
  }
  put_u32(out, static_cast<std::uint32_t>(p.size()));
  put_u32(out, checksum(p));
  out += p;
  return kRecordHeader + p.size();
}

std::optional<Result> decode_payload(std::string_view payload) {
  Cursor c{payload};
  Result r;
  auto ns = static_cast<std::int64_t>(c.u64());
  r.time = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(ns)));
  r.app = c.str();
  r.sdkappid = c.u64();
  r.group_id = c.str();
  bool has = c.u8() != 0;
  std::uint64_t num = c.u64();
  if (has) r.online_member_num = num;
  r.error_code = static_cast<std::int64_t>(c.u64());
  r.error_info = c.str();
  if (c.ok && !c.in.empty()) {
    auto meta = std::make_shared<config::GroupMeta>();
    meta->name = c.str();
    const std::uint32_t n = c.u32();
    for (std::uint32_t i = 0; c.ok && i < n && i < 4096; ++i) {
      std::string k = c.str();
      meta->labels.emplace_back(std::move(k), c.str());
    }
    r.meta = std::move(meta);
  }
  if (!c.ok || !c.in.empty()) return std::nullopt;
  return r;
}

Spool::Spool(std::string path) : path_(std::move(path)) {
  open_and_scan();
}

Spool::~Spool() {
  if (fd_ >= 0) ::close(fd_);
  if (head_fd_ >= 0) ::close(head_fd_);
}

namespace {

// A whole, checksummed, decodable record starts at data[at]: its length.
std::size_t record_at(std::string_view data, std::size_t at) {
  if (at + kRecordHeader > data.size()) return 0;
  const std::uint32_t len = get_u32(data.data() + at);
  if (len > kMaxPayload || at + kRecordHeader + len > data.size()) return 0;
  auto payload = data.substr(at + kRecordHeader, len);
  if (checksum(payload) != get_u32(data.data() + at + 4) || !decode_payload(payload)) return 0;
  return kRecordHeader + len;
}

}  // namespace

// Writes a new spool file with `fill`, syncs it, runs `before_rename`, then
// renames it over the spool and makes it the file in use. Throws naming
// `what` ("compact", "rewrite") and the OS error; the old file stays then.
void Spool::replace_file(const char* what, const std::function<void(int)>& fill,
                         const std::function<void()>& before_rename) {
  const std::string tmp = path_ + ".tmp";
  auto failed = [&](int err) {
    return std::runtime_error(std::string("cannot ") + what + " spool '" + path_ + "': " + os_error(err));
  };
  int out = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (out < 0) throw failed(errno);
  try {
    fill(out);
    if (::fdatasync(out) != 0) throw std::system_error(errno, std::generic_category());
    if (::fcntl(out, F_SETFL, O_APPEND) != 0) throw std::system_error(errno, std::generic_category());
  } catch (const std::system_error& e) {
    ::close(out);
    ::unlink(tmp.c_str());
    throw failed(e.code().value());
  }
  before_rename();
  if (::rename(tmp.c_str(), path_.c_str()) != 0) {
    int err = errno;
    ::close(out);
    ::unlink(tmp.c_str());
    throw failed(err);
  }
  sync_parent_dir(path_);
  ::close(fd_);
  fd_ = out;
}

// A bad record in the middle (a flipped byte, a bad sector) costs only that
// record: reading resumes at the next offset where a whole checksummed
// record starts. The damaged bytes go to <path>.quarantine (appended, for a
// human to look at) and the file is rewritten without them.
bool Spool::resync(std::uint64_t from, std::uint64_t size) {
  std::string data(static_cast<std::size_t>(size), '\0');
  if (!pread_all(fd_, 0, data.data(), data.size())) return false;
  std::vector<std::pair<std::size_t, std::size_t>> good;  // [from, to) of whole records
  std::string damaged;
  std::size_t pos = static_cast<std::size_t>(from), regions = 0;
  good.emplace_back(0, pos);
  while (pos < data.size()) {
    if (std::size_t n = record_at(data, pos)) {
      if (good.back().second == pos) {
        good.back().second += n;
      } else {
        good.emplace_back(pos, pos + n);
      }
      pos += n;
      continue;
    }
    std::size_t next = pos + 1;
    while (next < data.size() && record_at(data, next) == 0) ++next;
    damaged.append(data, pos, next - pos);
    ++regions;
    pos = next;
  }
  corrupt_bytes_ = damaged.size();
  std::string quarantine = path_ + ".quarantine";
  int q = ::open(quarantine.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (q >= 0) {
    try {
      write_all(q, damaged);
      (void)::fdatasync(q);
    } catch (const std::exception&) {
    }
    ::close(q);
  }
  std::string kept;
  for (auto [a, b] : good) kept.append(data, a, b - a);
  replace_file(
      "rewrite", [&](int out) { write_all(out, kept); }, [] {});
  log::warn(events::sink_dropped, "skipped corrupt bytes in the spool; every intact record is kept",
            {{"path", path_},
             {"regions", static_cast<std::uint64_t>(regions)},
             {"bytes", corrupt_bytes_},
             {"quarantine", quarantine}});
  return true;
}

void Spool::open_and_scan() {
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd_ < 0) throw std::runtime_error("cannot open spool file '" + path_ + "': " + os_error(errno));
  std::string head_path = path_ + ".head";
  head_fd_ = ::open(head_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (head_fd_ < 0) throw std::runtime_error("cannot open spool file '" + head_path + "': " + os_error(errno));
  std::uint64_t saved_head = read_head();

  off_t size = ::lseek(fd_, 0, SEEK_END);
  if (size < 0) throw std::runtime_error("cannot read spool file '" + path_ + "': " + os_error(errno));
  auto scan = [&](std::uint64_t to, std::size_t& total, std::size_t& before_head, bool& on_boundary) {
    RecordReader rd(fd_, 0, to);
    std::string_view payload;
    total = before_head = 0;
    on_boundary = saved_head == 0;
    while (rd.next(payload)) {
      if (!decode_payload(payload)) break;
      ++total;
      if (rd.pos() <= saved_head) ++before_head;
      if (rd.pos() == saved_head) on_boundary = true;
    }
    return rd.pos();
  };
  std::size_t total = 0, before_head = 0;
  bool on_boundary = false;
  end_ = scan(static_cast<std::uint64_t>(size), total, before_head, on_boundary);
  if (end_ < static_cast<std::uint64_t>(size) && resync(end_, static_cast<std::uint64_t>(size))) {
    // Rewritten without the damaged bytes: offsets after them moved, so the
    // saved head holds only if it lay before the damage.
    if (saved_head > end_) saved_head = 0;
    off_t now = ::lseek(fd_, 0, SEEK_END);
    end_ = scan(static_cast<std::uint64_t>(now < 0 ? 0 : now), total, before_head, on_boundary);
  }
  if (end_ < static_cast<std::uint64_t>(::lseek(fd_, 0, SEEK_END))) {
    corrupt_bytes_ = static_cast<std::uint64_t>(::lseek(fd_, 0, SEEK_END)) - end_;
    log::warn(events::sink_dropped, "dropped a torn or corrupt spool tail",
              {{"path", path_}, {"bytes", corrupt_bytes_}, {"kept_records", static_cast<std::uint64_t>(total)}});
    if (::ftruncate(fd_, static_cast<off_t>(end_)) != 0) {
      throw std::runtime_error("cannot truncate spool file '" + path_ + "': " + os_error(errno));
    }
  }
  // A head that is not a record boundary of this file belongs to an older
  // file (a crash between rewriting the spool and saving the head): deliver
  // everything again rather than skip anything.
  if (on_boundary && saved_head <= end_) {
    head_ = saved_head;
    count_ = total - before_head;
  } else {
    head_ = 0;
    count_ = total;
  }
  if (count_ == 0 && end_ > 0) {
    truncate_to(0);
    head_ = end_ = 0;
  }
  if (head_ != saved_head) write_head();
}

std::uint64_t Spool::read_head() {
  char buf[16];
  if (::pread(head_fd_, buf, sizeof buf, 0) != static_cast<ssize_t>(sizeof buf)) return 0;
  std::uint64_t head = 0, check = 0;
  for (int i = 7; i >= 0; --i) head = (head << 8) | static_cast<unsigned char>(buf[i]);
  for (int i = 15; i >= 8; --i) check = (check << 8) | static_cast<unsigned char>(buf[i]);
  return check == (head ^ kHeadCheck) ? head : 0;
}

void Spool::write_head() {
  std::string buf;
  put_u64(buf, head_);
  put_u64(buf, head_ ^ kHeadCheck);
  if (::pwrite(head_fd_, buf.data(), buf.size(), 0) != static_cast<ssize_t>(buf.size())) {
    log::warn(events::sink_failed, "cannot save the spool position; some results may be delivered twice",
              {{"path", path_}, {"error", os_error(errno)}});
  }
}

void Spool::truncate_to(std::uint64_t size) {
  if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
    log::warn(events::sink_failed, "cannot truncate spool", {{"path", path_}, {"error", os_error(errno)}});
  }
}

void Spool::append(std::string_view framed, std::size_t n) {
  if (framed.empty()) return;
  try {
    write_all(fd_, framed);
  } catch (const std::system_error& e) {
    int err = e.code().value();
    truncate_to(end_);  // never leave a torn record behind us
    // A system_error, so that the caller can tell a full disk (ENOSPC,
    // EDQUOT) from other failures.
    throw std::system_error(err, std::generic_category(), "cannot write spool file '" + path_ + "'");
  }
  end_ += framed.size();
  count_ += n;
  dirty_ = true;
}

void Spool::sync() {
  if (!dirty_) return;
  if (::fdatasync(fd_) != 0) {
    log::warn(events::sink_failed, "fdatasync failed", {{"path", path_}, {"error", os_error(errno)}});
  }
  dirty_ = false;
}

std::vector<Result> Spool::read_front(std::size_t max, std::uint64_t& bytes) {
  std::vector<Result> out;
  RecordReader rd(fd_, head_, end_);
  std::string_view payload;
  while (out.size() < max && rd.next(payload)) {
    auto r = decode_payload(payload);
    if (!r) break;
    out.push_back(std::move(*r));
  }
  bytes = rd.pos() - head_;
  if (out.size() < max && rd.pos() < end_) {
    // Damaged after it was validated (disk error): keep what reads cleanly.
    log::warn(events::sink_dropped, "spool damaged while in use; dropping the unreadable rest",
              {{"path", path_}, {"bytes", end_ - rd.pos()}});
    end_ = rd.pos();
    count_ = out.size();
    truncate_to(end_);
  }
  return out;
}

void Spool::consume(std::uint64_t bytes, std::size_t n) {
  head_ = std::min(head_ + bytes, end_);
  count_ = n >= count_ ? 0 : count_ - n;
  if (count_ == 0 || head_ == end_) {
    count_ = 0;
    head_ = end_ = 0;
    truncate_to(0);
    dirty_ = true;
  }
  write_head();
}

std::size_t Spool::drop_front(std::uint64_t keep_bytes, std::uint64_t want_bytes) {
  keep_bytes = std::min(keep_bytes, end_ - head_);
  std::uint64_t skip_from = head_ + keep_bytes;
  std::uint64_t skip_to = skip_from;
  std::size_t dropped = 0;
  if (want_bytes > 0) {
    RecordReader rd(fd_, skip_from, end_);
    std::string_view payload;
    while (skip_to - skip_from < want_bytes && rd.next(payload)) {
      skip_to = rd.pos();
      ++dropped;
    }
  }
  if (head_ == 0 && dropped == 0) return 0;

  auto copy = [&](int out, std::uint64_t from, std::uint64_t to) {
    std::string buf;
    while (from < to) {
      std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, to - from));
      buf.resize(n);
      if (!pread_all(fd_, from, buf.data(), n)) throw std::system_error(EIO, std::generic_category());
      write_all(out, buf);
      from += n;
    }
  };
  replace_file(
      "compact",
      [&](int out) {
        copy(out, head_, skip_from);
        copy(out, skip_to, end_);
      },
      [&] {
        // Head first: a crash before the rename then replays the consumed
        // prefix of the old file again (duplicates) instead of skipping into
        // the new one.
        std::uint64_t old_head = head_;
        head_ = 0;
        write_head();
        (void)::fdatasync(head_fd_);
        head_ = old_head;
      });
  end_ = (end_ - head_) - (skip_to - skip_from);
  head_ = 0;
  count_ -= dropped;
  dirty_ = false;
  return dropped;
}

}  // namespace groupwatch::delivery::detail
