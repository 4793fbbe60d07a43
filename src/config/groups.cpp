// Watchlist files and group ID checks.
#include "config/groups.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "groupwatch/tencent/request.hpp"
#include "groupwatch/util/text.hpp"

namespace groupwatch::config {

std::string check_group_id(std::string_view id, std::string* warning) {
  if (id.empty()) return "group ID is empty";
  if (id.size() > kMaxGroupIdBytes) {
    return fmt::format("group ID is {} bytes long; the limit is {}", id.size(), kMaxGroupIdBytes);
  }
  for (char c : id) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return "group ID contains a space or a control character";
  }
  // Sinks (PostgreSQL, JSON) take UTF-8 text only: one bad ID would poison
  // every batch it is in.
  if (auto bad = first_invalid_utf8(id); bad != std::string_view::npos) {
    return fmt::format("group ID is not valid UTF-8 (byte 0x{:02X} at offset {})", static_cast<unsigned char>(id[bad]),
                       bad);
  }
  for (std::size_t i = 0; i + 1 < id.size(); ++i) {
    const auto a = static_cast<unsigned char>(id[i]), b = static_cast<unsigned char>(id[i + 1]);
    if (a == 0xC2 && b >= 0x80 && b <= 0x9F) return "group ID contains a control character (U+0080..U+009F)";
  }
  if (warning != nullptr) {
    if (!id.starts_with(tencent::community_prefix)) {
      *warning =
          fmt::format("group ID '{}' does not start with {} (not a Community group?)", id, tencent::community_prefix);
    } else {
      warning->clear();
    }
  }
  return {};
}

bool read_whole_file(const std::string& path, std::string& out, std::string& error, std::size_t max_bytes) {
  // O_NONBLOCK: a FIFO must not block the open (it is refused below).
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    error = std::strerror(errno);
    return false;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    error = std::strerror(errno);
    ::close(fd);
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    // A directory, a FIFO (blocks), /dev/zero (never ends): refused.
    error = S_ISDIR(st.st_mode) ? "is a directory" : "is not a regular file";
    ::close(fd);
    return false;
  }
  auto too_big = [&](std::uint64_t n) {
    error = fmt::format("is {} bytes long; the limit is {} bytes", n, max_bytes);
    ::close(fd);
    return false;
  };
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes) return too_big(static_cast<std::uint64_t>(st.st_size));
  out.clear();
  if (st.st_size > 0) out.reserve(static_cast<std::size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      error = std::strerror(errno);
      ::close(fd);
      return false;
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > max_bytes) return too_big(out.size());  // it grew while read
  }
  ::close(fd);
  return true;
}

bool is_yaml_path(std::string_view path) {
  return path.ends_with(".yaml") || path.ends_with(".yml");
}

// ---- GroupScanner ----------------------------------------------------------

GroupScanner::GroupScanner(const std::string& file, Diagnostics& diags) : file_(file), diags_(diags) {}

bool GroupScanner::check(std::string_view id, Mark mark) {
  std::string warning;
  std::string err = check_group_id(id, &warning);
  if (!err.empty()) {
    if (errors_shown_ < kShownPerFile) {
      diags_.error(file_, mark, err);
      ++errors_shown_;
    } else {
      ++errors_hidden_;
    }
    return false;
  }
  if (!warning.empty()) {
    if (warnings_shown_ < kShownPerFile) {
      diags_.warning(file_, mark, std::move(warning));
      ++warnings_shown_;
    } else {
      ++warnings_hidden_;
    }
  }
  return true;
}

bool GroupScanner::count_one(Mark mark) {
  if (++count_ > kMaxGroupsPerFile) {
    diags_.error(file_, mark,
                 fmt::format("more than {} group IDs in one file; split the watchlist", kMaxGroupsPerFile));
    return false;
  }
  return true;
}

void GroupScanner::finish() {
  if (errors_hidden_ > 0) {
    // Counted as one more error so that the file is still rejected.
    diags_.error(file_, {}, fmt::format("{} more invalid group IDs not shown", errors_hidden_));
  }
  if (warnings_hidden_ > 0) {
    diags_.warning(
        file_, {},
        fmt::format("{} more group IDs without the {} prefix not shown", warnings_hidden_, tencent::community_prefix));
  }
}

namespace {
bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}
}  // namespace

void scan_text_groups(std::string_view data, GroupScanner& scanner,
                      const std::function<void(std::string_view, Mark)>& on_id) {
  if (data.starts_with("\xEF\xBB\xBF")) data.remove_prefix(3);
  std::size_t pos = 0;
  int line = 0;
  while (pos < data.size()) {
    ++line;
    const void* nl = std::memchr(data.data() + pos, '\n', data.size() - pos);
    const std::size_t end = nl ? static_cast<std::size_t>(static_cast<const char*>(nl) - data.data()) : data.size();
    const std::string_view ln = data.substr(pos, end - pos);
    pos = end + 1;
    if (ln.size() > kMaxLineBytes) {
      scanner.error({line, 1}, fmt::format("line is longer than {} bytes", kMaxLineBytes));
      continue;
    }
    std::size_t b = 0;
    while (b < ln.size() && is_blank(ln[b])) ++b;
    if (b == ln.size() || ln[b] == '#') continue;
    std::size_t e = ln.size();
    for (std::size_t i = b; i + 1 < ln.size(); ++i) {
      if ((ln[i] == ' ' || ln[i] == '\t') && ln[i + 1] == '#') {
        e = i;  // "ID   # comment"
        break;
      }
    }
    while (e > b && is_blank(ln[e - 1])) --e;
    const Mark mark{line, static_cast<int>(b) + 1};
    if (!scanner.count_one(mark)) return;
    const std::string_view id = ln.substr(b, e - b);
    if (scanner.check(id, mark)) on_id(id, mark);
  }
}

void scan_yaml_groups(const std::string& data, GroupScanner& scanner,
                      const std::function<void(std::string_view, Mark)>& on_id, const OnMeta& on_meta) {
  YAML::Node root;
  try {
    root = YAML::Load(data);
  } catch (const YAML::Exception& e) {
    scanner.error(Mark{e.mark.line + 1, e.mark.column + 1}, "YAML syntax error: " + e.msg);
    return;
  }
  if (!root.IsDefined() || root.IsNull()) return;
  if (!root.IsSequence()) {
    scanner.error(mark_of(root), "a YAML watchlist must be a list of group IDs");
    return;
  }
  std::string id;
  GroupMetaPtr meta;
  for (const auto& item : root) {
    const Mark mark = mark_of(item);
    if (!scanner.count_one(mark)) return;
    if (!read_group_entry(item, scanner, nullptr, id, meta)) continue;
    on_id(id, mark);
    if (meta && on_meta) on_meta(id, std::move(meta));
  }
}

namespace {

// Label names a result already has in some sink: a label may not shadow them.
bool reserved_label(std::string_view key) {
  return key == "app" || key == "sdkappid" || key == "group_id" || key == "group_name" || key == "error_code" ||
         key == "error_info" || key == "online_member_num" || key == "time" || key.starts_with("__");
}

bool read_labels(const YAML::Node& node, GroupScanner& scanner, const EnvLookup* env, GroupMeta& meta) {
  const Mark mark = mark_of(node);
  if (!node.IsMap()) {
    scanner.error(mark, "'labels' must be a mapping of label names to values, e.g. {tier: gold}");
    return false;
  }
  bool ok = true;
  for (const auto& kv : node) {
    const Mark m = mark_of(kv.first);
    if (!kv.first.IsScalar() || !kv.second.IsScalar()) {
      scanner.error(m, "each label must be NAME: VALUE with a plain value");
      ok = false;
      continue;
    }
    std::string key = kv.first.Scalar(), value = kv.second.Scalar(), why;
    if (env) {
      auto v = interpolate(value, *env, &why);
      if (!v) {
        scanner.error(m, "label '" + key + "': " + why);
        ok = false;
        continue;
      }
      value = std::move(*v);
    }
    if (key.empty() || reserved_label(key)) {
      scanner.error(m, fmt::format("label name '{}' is {}", key,
                                   key.empty() ? "empty" : "taken by a field every result has; choose another"));
      ok = false;
    } else if (first_invalid_utf8(key) != std::string_view::npos ||
               first_invalid_utf8(value) != std::string_view::npos) {
      scanner.error(m, fmt::format("label '{}' is not valid UTF-8", key));
      ok = false;
    } else {
      meta.labels.emplace_back(std::move(key), std::move(value));
    }
  }
  std::sort(meta.labels.begin(), meta.labels.end());
  for (std::size_t i = 1; i < meta.labels.size(); ++i) {
    if (meta.labels[i].first == meta.labels[i - 1].first) {
      scanner.error(mark, fmt::format("label '{}' is given twice", meta.labels[i].first));
      return false;
    }
  }
  return ok;
}

}  // namespace

bool read_group_entry(const YAML::Node& item, GroupScanner& scanner, const EnvLookup* env, std::string& id,
                      GroupMetaPtr& meta) {
  const Mark mark = mark_of(item);
  meta.reset();
  auto text = [&](const YAML::Node& n, std::string_view what, std::string& out) {
    out = n.Scalar();
    if (!env) return true;
    std::string why;
    auto v = interpolate(out, *env, &why);
    if (!v) {
      scanner.error(mark_of(n), fmt::format("{}: {}", what, why));
      return false;
    }
    out = std::move(*v);
    return true;
  };
  if (item.IsScalar()) return text(item, "group ID", id) && scanner.check(id, mark);
  if (!item.IsMap()) {
    scanner.error(mark, "each watchlist entry must be a group ID or a mapping {id, name, labels}");
    return false;
  }
  static const EnvLookup environment = process_env();
  MapReader r(item, scanner.file(), scanner.diags(), env ? *env : environment, "watchlist entry");
  bool ok = r.string("id", id, true) && scanner.check(id, r.mark("id"));
  auto m = std::make_shared<GroupMeta>();
  if (r.string("name", m->name) && first_invalid_utf8(m->name) != std::string_view::npos) {
    r.error_at("name", "group name is not valid UTF-8");
    ok = false;
  }
  if (r.has("labels")) ok = read_labels(r.node("labels"), scanner, env, *m) && ok;
  const int errors = scanner.diags().error_count();
  r.finish();
  ok = ok && scanner.diags().error_count() == errors;
  if (ok && (!m->name.empty() || !m->labels.empty())) meta = std::move(m);
  return ok;
}

bool scan_group_file(const std::string& path, Diagnostics& diags, std::string* open_error,
                     const std::function<void(std::string_view, Mark)>& on_id) {
  std::string data;
  std::string err;
  if (!read_whole_file(path, data, err)) {
    if (open_error) *open_error = err;
    return false;
  }
  GroupScanner scanner(path, diags);
  if (is_yaml_path(path)) {
    scan_yaml_groups(data, scanner, on_id);
  } else {
    scan_text_groups(data, scanner, on_id);
  }
  scanner.finish();
  return true;
}

void read_group_file(const std::string& path, std::vector<GroupEntry>& out, Diagnostics& diags) {
  std::string err;
  const bool ok = scan_group_file(path, diags, &err, [&](std::string_view id, Mark mark) {
    out.push_back(GroupEntry{std::string(id), path, mark});
  });
  if (!ok) diags.error(path, {}, fmt::format("cannot read watchlist: {}", err));
}

// ---- GroupSet ---------------------------------------------------------------

GroupSet::GroupSet(std::vector<std::string>& ids, Diagnostics& diags) : ids_(ids), diags_(diags) {
  ids_.clear();  // positions in the table are positions in `ids`
}

void GroupSet::rehash(std::size_t want) {
  std::size_t n = 16;
  while (n < want) n <<= 1;
  if (n <= slots_.size()) return;
  std::vector<Slot> fresh(n);
  const std::size_t mask = n - 1;
  for (const Slot& s : slots_) {
    if (s.pos == 0) continue;
    std::size_t i = s.hash & mask;
    while (fresh[i].pos != 0) i = (i + 1) & mask;
    fresh[i] = s;
  }
  slots_ = std::move(fresh);
}

void GroupSet::reserve(std::size_t more) {
  ids_.reserve(ids_.size() + more);
  origins_.reserve(origins_.size() + more);
  rehash((ids_.size() + more) * 2);  // load factor at most 1/2
}

std::uint32_t GroupSet::file_index(const std::string& file) {
  for (std::size_t i = 0; i < files_.size(); ++i) {
    if (files_[i] == file) return static_cast<std::uint32_t>(i);
  }
  files_.push_back(file);
  return static_cast<std::uint32_t>(files_.size() - 1);
}

bool GroupSet::add(std::string_view id, std::uint32_t file, Mark mark) {
  if ((ids_.size() + 1) * 2 > slots_.size()) rehash((ids_.size() + 1) * 4);
  return add_hashed(id, hash_of(id), file, mark);
}

void GroupSet::Batch::flush() {
  auto& s = set_;
  if ((s.ids_.size() + n_) * 2 > s.slots_.size()) s.rehash((s.ids_.size() + n_) * 4);
  const std::size_t mask = s.slots_.size() - 1;
  for (std::size_t k = 0; k < n_; ++k) {
    items_[k].hash = hash_of(items_[k].id);
    __builtin_prefetch(&s.slots_[items_[k].hash & mask]);
  }
  for (std::size_t k = 0; k < n_; ++k) s.add_hashed(items_[k].id, items_[k].hash, file_, items_[k].mark);
  n_ = 0;
}

// The caller made room: the table is at most half full after this insert.
bool GroupSet::add_hashed(std::string_view id, std::uint32_t hash, std::uint32_t file, Mark mark) {
  const std::size_t mask = slots_.size() - 1;
  std::size_t i = hash & mask;
  for (; slots_[i].pos != 0; i = (i + 1) & mask) {
    if (slots_[i].hash != hash || ids_[slots_[i].pos - 1] != id) continue;
    if (dup_shown_ < kShownDuplicates) {
      const Origin& first = origins_[slots_[i].pos - 1];
      diags_.warning(files_[file], mark,
                     fmt::format("duplicate group ID '{}' (first at {}:{}:{}); watched once", id, files_[first.file],
                                 first.mark.line, first.mark.col));
      ++dup_shown_;
    } else {
      ++dup_hidden_;
    }
    return false;
  }
  ids_.emplace_back(id);
  origins_.push_back(Origin{file, mark});
  slots_[i] = Slot{hash, static_cast<std::uint32_t>(ids_.size())};
  return true;
}

void GroupSet::finish(const std::string& file, Mark mark) {
  if (dup_hidden_ > 0) {
    diags_.warning(file, mark, fmt::format("{} more duplicate group IDs not shown; each is watched once", dup_hidden_));
  }
}

}  // namespace groupwatch::config
