#pragma once
// The per-sink write-ahead spool: a file of length-prefixed, CRC32-checked
// records, each one serialized Result. Records are appended at the end and
// consumed from the head; the file is truncated once nothing is left.
//
// Record: u32 LE payload length, u32 LE crc32(payload), payload.
// <path>.head holds the consumed offset (u64 LE + check word), rewritten with
// pwrite(2) at every acknowledgement, so a restart does not deliver the
// consumed part of a partly replayed spool again.
// Not thread-safe: the delivery layer guards each spool with its sink's mutex.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "groupwatch/delivery/result.hpp"

namespace groupwatch::delivery::detail {

inline constexpr std::size_t kRecordHeader = 8;

/// Appends one framed record for `r` to `out`; returns its size in bytes.
std::size_t encode_record(const Result& r, std::string& out);
/// Decodes one payload (without the header); nullopt when malformed.
std::optional<Result> decode_payload(std::string_view payload);

class Spool {
 public:
  /// Opens or creates `path` and validates every record in it. Damaged
  /// bytes in the middle are skipped (reading resumes at the next whole
  /// record) and kept in <path>.quarantine; a torn tail is cut off; both
  /// with a warning. Throws std::runtime_error naming
  /// the path and the OS error when the file cannot be opened or written.
  explicit Spool(std::string path);
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  const std::string& path() const { return path_; }
  std::uint64_t file_bytes() const { return end_; }
  std::uint64_t pending_bytes() const { return end_ - head_; }
  std::size_t pending() const { return count_; }
  /// Bytes cut off as corrupt when the file was opened.
  std::uint64_t corrupt_bytes() const { return corrupt_bytes_; }

  /// Appends `n` already framed records with one write(2). On failure the file
  /// is cut back to its previous end and std::runtime_error is thrown.
  void append(std::string_view framed, std::size_t n);
  /// fdatasync when something was appended since the last sync.
  void sync();
  bool dirty() const { return dirty_; }

  /// Reads up to `max` records from the head without consuming them.
  /// `bytes` receives their framed length.
  std::vector<Result> read_front(std::size_t max, std::uint64_t& bytes);
  /// Consumes the first `n` records (`bytes` long); truncates the file to
  /// zero once nothing is pending.
  void consume(std::uint64_t bytes, std::size_t n);

  /// Removes whole records starting `keep_bytes` after the head (those are in
  /// flight) until at least `want_bytes` are freed or none are left; rewrites
  /// the file without the consumed prefix. Returns the records removed.
  std::size_t drop_front(std::uint64_t keep_bytes, std::uint64_t want_bytes);
  /// Rewrites the file without the consumed prefix.
  void compact() { drop_front(0, 0); }

 private:
  void open_and_scan();
  bool resync(std::uint64_t from, std::uint64_t size);
  void replace_file(const char* what, const std::function<void(int)>& fill, const std::function<void()>& before_rename);
  std::uint64_t read_head();
  void write_head();
  void truncate_to(std::uint64_t size);

  std::string path_;
  int fd_ = -1;
  int head_fd_ = -1;        // <path>.head: head_ survives restarts
  std::uint64_t head_ = 0;  // first unconsumed byte
  std::uint64_t end_ = 0;   // file size (all valid records)
  std::size_t count_ = 0;   // unconsumed records
  std::uint64_t corrupt_bytes_ = 0;
  bool dirty_ = false;
};

}  // namespace groupwatch::delivery::detail
