#pragma once
// Internal: the fast watchlist reader and the deduplicating group set used by
// load_config. Text watchlists never go through yaml-cpp, and no object is
// built per line beyond the kept ID itself.
#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "groupwatch/config/config.hpp"

namespace groupwatch::config {

inline constexpr std::size_t kMaxGroupIdBytes = 128;
inline constexpr std::size_t kMaxLineBytes = 4096;
inline constexpr std::size_t kMaxGroupsPerFile = 2'000'000;
inline constexpr int kShownPerFile = 20;     // per kind of problem, then a count
inline constexpr int kShownDuplicates = 50;  // per app, then a count

/// Files the config names are read whole, and only when they are regular
/// files no larger than this (a watchlist of 2,000,000 IDs is about 60 MB).
inline constexpr std::size_t kMaxConfigFileBytes = 256ull << 20;
/// Reads a regular file of at most `max_bytes`; otherwise false with `error`
/// saying why ("is not a regular file", "is N bytes long; the limit is M").
bool read_whole_file(const std::string& path, std::string& out, std::string& error,
                     std::size_t max_bytes = kMaxConfigFileBytes);
bool is_yaml_path(std::string_view path);

/// Per-file bookkeeping: the group count bound and capped diagnostics (a
/// million bad lines must not become a million messages).
class GroupScanner {
 public:
  GroupScanner(const std::string& file, Diagnostics& diags);
  /// True when `id` is valid (warnings recorded); false with an error.
  bool check(std::string_view id, Mark mark);
  /// False (with an error) once the file holds too many IDs.
  bool count_one(Mark mark);
  void error(Mark mark, std::string message) { diags_.error(file_, mark, std::move(message)); }
  Diagnostics& diags() { return diags_; }
  const std::string& file() const { return file_; }
  void finish();

 private:
  const std::string& file_;
  Diagnostics& diags_;
  std::size_t count_ = 0;
  int errors_shown_ = 0, warnings_shown_ = 0;
  std::size_t errors_hidden_ = 0, warnings_hidden_ = 0;
};

void scan_text_groups(std::string_view data, GroupScanner& scanner,
                      const std::function<void(std::string_view, Mark)>& on_id);
/// Called for a watchlist entry written as {id, name, labels} that has a name
/// or labels, after its ID was passed to on_id.
using OnMeta = std::function<void(const std::string& id, GroupMetaPtr meta)>;

/// One watchlist entry: an ID string, or a mapping {id, name, labels}. Sets
/// `id` (interpolated through `env` when given) and `meta` (null when the
/// entry has neither name nor labels); false with an error recorded.
bool read_group_entry(const YAML::Node& item, GroupScanner& scanner, const EnvLookup* env, std::string& id,
                      GroupMetaPtr& meta);

void scan_yaml_groups(const std::string& data, GroupScanner& scanner,
                      const std::function<void(std::string_view, Mark)>& on_id, const OnMeta& on_meta = {});
/// Reads `path` (YAML list for .yaml/.yml, text otherwise) and calls `on_id`
/// for every valid ID. False when the file cannot be read (`open_error` says why).
bool scan_group_file(const std::string& path, Diagnostics& diags, std::string* open_error,
                     const std::function<void(std::string_view, Mark)>& on_id);

/// An app's watchlist, deduplicated in first-seen order. The index is an
/// open-addressing table of (hash, position in `ids`) pairs: 8 bytes a slot,
/// no node per ID, and positions stay valid when `ids` grows.
class GroupSet {
 public:
  GroupSet(std::vector<std::string>& ids, Diagnostics& diags);
  void reserve(std::size_t more);
  std::uint32_t file_index(const std::string& file);
  /// False when `id` was already there (a warning names both places).
  bool add(std::string_view id, std::uint32_t file, Mark mark);
  /// Reports how many duplicate warnings were held back.
  void finish(const std::string& file, Mark mark);

  /// Adds IDs in order, a few at a time, prefetching their table slots: a
  /// million random slot reads are otherwise a million cache misses. The
  /// views must stay valid until flush().
  class Batch {
   public:
    Batch(GroupSet& set, std::uint32_t file) : set_(set), file_(file) {}
    void push(std::string_view id, Mark mark) {
      items_[n_++] = Item{id, mark, 0};
      if (n_ == items_.size()) flush();
    }
    void flush();

   private:
    struct Item {
      std::string_view id;
      Mark mark;
      std::uint32_t hash;
    };
    GroupSet& set_;
    std::uint32_t file_;
    std::array<Item, 16> items_{};
    std::size_t n_ = 0;
  };

 private:
  struct Origin {
    std::uint32_t file;
    Mark mark;
  };
  struct Slot {
    std::uint32_t hash = 0;
    std::uint32_t pos = 0;  // index into ids_ plus one; 0 = empty
  };
  void rehash(std::size_t slots);
  static std::uint32_t hash_of(std::string_view id) {
    return static_cast<std::uint32_t>(std::hash<std::string_view>{}(id));
  }
  bool add_hashed(std::string_view id, std::uint32_t hash, std::uint32_t file, Mark mark);

  std::vector<std::string>& ids_;
  Diagnostics& diags_;
  std::vector<std::string> files_;
  std::vector<Origin> origins_;  // parallel to ids_
  std::vector<Slot> slots_;
  int dup_shown_ = 0;
  std::size_t dup_hidden_ = 0;
};

}  // namespace groupwatch::config
