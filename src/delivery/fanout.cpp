// Delivery guarantee (per sink):
// - A result handed to push() is delivered at least once, in push order,
//   unless the spool reaches spool_max_bytes (then when_full drops, counted in
//   stats().dropped and logged) or the disk fails.
// - While a sink is healthy, results wait in memory for at most flush_interval
//   (or until batch_size are queued). A kill -9 in that window loses them; a
//   clean stop() delivers or spools them.
// - push() runs on the polling thread and only appends to an inbox under a
//   lock that is never held across I/O; the worker thread moves the inbox to
//   its memory queue or its spool. The polling thread never touches the disk.
// - From the first failed attempt on, the failed batch and the whole memory
//   queue are written to the spool and fdatasync'd, and the worker writes
//   every later result straight to the spool with write(2) until the backlog
//   is delivered. So a kill -9 during an outage loses only what sat in the
//   inbox (the results of the last moments while the worker was inside a
//   sink write); a power loss loses at most one flush_interval more, since a
//   dirty spool is fdatasync'd at least that often.
// - A batch the sink took but whose acknowledgement did not reach the spool
//   before a crash is delivered again after the restart (at-least-once; the
//   sqlite sink's UNIQUE key makes that exactly-once).
#include "groupwatch/delivery/fanout.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>

#include "delivery/spool.hpp"
#include "groupwatch/util/events.hpp"
#include "groupwatch/util/log.hpp"

namespace groupwatch::delivery {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
constexpr auto kDefaultGrace = std::chrono::seconds(5);
constexpr auto kDropLogEvery = std::chrono::seconds(10);
constexpr auto kCancelWait = std::chrono::seconds(2);  // for a cancelled write to return
constexpr auto kStuckWrite = std::chrono::seconds(5);  // a write running this long counts as failing

// First in, first out, on a vector that keeps its capacity: the front is an
// index, and the slots before it are reclaimed when the queue empties or
// when they are over half of it. A std::deque would allocate a block every
// few results.
class Fifo {
 public:
  std::size_t size() const { return v_.size() - head_; }
  bool empty() const { return head_ == v_.size(); }
  void push_back(Result&& r) { v_.push_back(std::move(r)); }
  auto begin() { return v_.begin() + static_cast<std::ptrdiff_t>(head_); }
  auto end() { return v_.end(); }
  void clear() {
    v_.clear();
    head_ = 0;
  }
  /// Moves the `n` oldest results into `out` (which is empty). Taking all of
  /// them trades storage with `out`: neither allocates. Storage of more than
  /// about a batch (a backlog after an outage) is given back once drained.
  void take(std::size_t n, std::vector<Result>& out) {
    const std::size_t keep = 2 * n + 64;
    if (head_ == 0 && n == v_.size() && v_.capacity() <= keep) {
      out.swap(v_);
      return;
    }
    const auto first = begin();
    out.assign(std::make_move_iterator(first), std::make_move_iterator(first + static_cast<std::ptrdiff_t>(n)));
    head_ += n;
    if (head_ == v_.size()) {
      clear();
      if (v_.capacity() > keep) std::vector<Result>().swap(v_);
    } else if (head_ > v_.size() / 2) {
      v_.erase(v_.begin(), begin());
      head_ = 0;
    }
  }

 private:
  std::vector<Result> v_;
  std::size_t head_ = 0;
};

class Worker {
 public:
  Worker(ParsedSink p, const std::string& state_dir, const std::string& spool_dir)
      : name_(p.name),
        state_dir_(state_dir),
        fingerprint_(p.fingerprint),
        p_(std::move(p)),
        spool_(spool_dir + "/" + p_.name + ".wal"),
        rng_(std::random_device{}()) {
    sink_ = p_.spec->create(SinkContext{state_dir, p_.name});
    if (!sink_) throw std::runtime_error("sink '" + p_.name + "' could not be created");
    if (spool_.pending() > 0) {
      log::info(events::sink_spooled, "delivering results spooled by a previous run",
                {{"sink", p_.name}, {"records", static_cast<std::uint64_t>(spool_.pending())}});
    }
  }

  ~Worker() {
    if (abandoned_) {
      thread_.detach();  // only when the process is about to exit (Fanout::abandoned)
      return;
    }
    if (thread_.joinable()) {
      begin_stop(Clock::now());
      finish_stop(Clock::now());
    }
  }

  void start() {
    thread_ = std::thread([this] { run(); });
  }

  /// Called on the polling thread: only appends to the inbox, never touches
  /// the disk or waits for a lock that is held across I/O. The worker moves
  /// the inbox into its queue or its spool.
  void push(Result&& r) {
    {
      std::lock_guard ik(inbox_mu_);
      if (!worker_gone_) {
        inbox_.push_back(std::move(r));
        if (worker_waiting_ && inbox_.size() == wake_after_) inbox_cv_.notify_one();
        return;
      }
    }
    // After the worker has left (stop), the spool keeps it for the next run.
    std::lock_guard lk(mu_);
    all_delivered_ = false;
    spill_locked(&r, true);
  }

  /// Also on the polling thread, and as cheap as push().
  void forget(const std::string& app, const std::string& group_id) {
    std::lock_guard ik(inbox_mu_);
    if (worker_gone_) return;
    inbox_forgets_.emplace_back(app, group_id);
    kick_ = true;
    inbox_cv_.notify_one();
  }

  void begin_stop(Clock::time_point deadline) {
    std::lock_guard lk(mu_);
    if (stopping_) return;
    stopping_ = true;
    deadline_ = deadline;
    std::lock_guard ik(inbox_mu_);
    kick_ = true;
    inbox_cv_.notify_one();
  }

  /// Waits for the worker until `deadline`; if it is still inside a sink
  /// write by then, spools everything else so that only that write is
  /// outstanding, then joins it.
  bool finish_stop(Clock::time_point deadline) {
    std::unique_lock lk(mu_);
    if (stopped_) return all_delivered_;
    if (!done_cv_.wait_until(lk, deadline, [this] { return done_; })) {
      log::warn(events::sink_spooled,
                "sink still busy at the end of the grace period; spooling the rest and cancelling its write",
                {{"sink", p_.name}});
      spill_locked(nullptr, true);
      // The write in progress (a locked table, a hung server) is cancelled;
      // its batch is already in the spool. A sink that does not return even
      // then is left behind: the process exits without it.
      if (writing_) sink_->cancel();
      if (!done_cv_.wait_for(lk, kCancelWait, [this] { return done_; })) {
        abandoned_ = true;
        log::error(events::sink_spooled, "sink did not return after its write was cancelled; leaving it behind",
                   {{"sink", p_.name}, {"spooled", static_cast<std::uint64_t>(spool_.pending())}});
        spool_.sync();
        return false;
      }
    }
    lk.unlock();
    if (thread_.joinable()) thread_.join();
    lk.lock();
    spool_.sync();
    stopped_ = true;
    // Drops are logged at most every kDropLogEvery: the total goes on record here.
    if (dropped_ > 0) {
      log::warn(events::sink_dropped, "results dropped in this run: the spool was at its cap",
                {{"sink", p_.name},
                 {"when_full", p_.delivery.drop_oldest ? "drop_oldest" : "drop_newest"},
                 {"dropped", dropped_},
                 {"spooled", static_cast<std::uint64_t>(spool_.pending())}});
    }
    return all_delivered_;
  }

  /// Read on the polling thread (metrics, status): never waits while the
  /// worker holds mu_ across spool I/O; the last snapshot serves then.
  SinkStats stats() const {
    std::unique_lock lk(mu_, std::try_to_lock);
    if (!lk.owns_lock()) {
      std::lock_guard sk(stats_mu_);
      return last_stats_;
    }
    SinkStats s;
    s.name = p_.name;
    s.type = p_.type;
    s.queue_depth = queue_.size() + (batch_spool_bytes_ == 0 ? batch_.size() : 0);
    {
      std::lock_guard ik(inbox_mu_);
      s.queue_depth += inbox_.size();
    }
    s.spooled = spool_.pending();
    s.spool_bytes = spool_.file_bytes();
    s.delivered = delivered_;
    s.dropped = dropped_;
    s.failures = failures_;
    s.healthy = healthy_;
    s.last_error = last_error_;
    // A write that does not return (a locked table, a hung server) delivers
    // nothing, whatever the connection says: failing after kStuckWrite.
    if (writing_ && Clock::now() - write_started_ >= kStuckWrite) {
      s.healthy = false;
      s.last_error =
          "a write has not returned for " +
          std::to_string(std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - write_started_).count()) +
          "s (the sink is blocked)";
    }
    std::lock_guard sk(stats_mu_);
    last_stats_ = s;
    return s;
  }

  const std::string& name() const { return name_; }
  bool abandoned() const { return abandoned_; }
  const std::string& fingerprint() const { return fingerprint_; }

  /// On the polling thread (reload): the worker swaps to `p` between two
  /// writes, keeping its queue, its spool and the batch it is retrying.
  void replace(ParsedSink p) {
    fingerprint_ = p.fingerprint;
    {
      std::lock_guard lk(mu_);
      replacement_ = std::make_unique<ParsedSink>(std::move(p));
    }
    std::lock_guard ik(inbox_mu_);
    kick_ = true;
    inbox_cv_.notify_one();
  }

 private:
  // mu_ held. What push() did before the inbox: queue it, or spool it
  // behind what is already spooled (sink failing, spool not empty, queue full).
  void enqueue_locked(Result&& r) {
    const bool full = queue_.size() >= p_.delivery.queue_size;
    if (!healthy_ || spool_.pending() > 0 || full) {
      spill_locked(&r, full);
      return;
    }
    if (queue_.empty()) first_queued_ = Clock::now();
    queue_.push_back(std::move(r));
  }

  // mu_ held.
  // The two inbox vectors trade places and keep their capacity: pushing a
  // result costs a move, not a vector's growth.
  void drain_inbox_locked() {
    {
      std::lock_guard ik(inbox_mu_);
      drained_.swap(inbox_);
      for (auto& f : inbox_forgets_) forgets_.push_back(std::move(f));
      inbox_forgets_.clear();
    }
    for (auto& r : drained_) enqueue_locked(std::move(r));
    drained_.clear();
  }

  // Worker thread, mu_ held (released while the old sink closes).
  void apply_replacement(std::unique_lock<std::mutex>& lk) {
    auto next = std::move(replacement_);
    std::unique_ptr<Sink> made;
    std::string err;
    try {
      made = next->spec->create(SinkContext{state_dir_, name_});
    } catch (const std::exception& e) {
      err = e.what();
    }
    if (!made) {
      log::error(events::sink_failed, "the changed sink settings cannot be used; the previous ones stay",
                 {{"sink", name_}, {"error", err.empty() ? std::string("could not be created") : err}});
      return;
    }
    auto old = std::move(sink_);
    sink_ = std::move(made);
    p_ = std::move(*next);
    opened_ = false;
    consecutive_ = 0;
    next_attempt_ = Clock::now();  // a failing sink gets its new settings tried at once
    lk.unlock();
    old.reset();  // may close a connection: not under the lock
    lk.lock();
    log::info(events::config_reload, "sink settings changed; queue and spool kept", {{"sink", name_}});
  }

  void run() {
    std::unique_lock lk(mu_);
    for (;;) {
      const auto flush = p_.delivery.flush_interval;
      drain_inbox_locked();
      if (replacement_ && !stopping_) {
        apply_replacement(lk);
        continue;
      }
      // A forget comes after the results pushed before it: write those
      // first, or they would bring the forgotten series back.
      if (!forgets_.empty() && healthy_ && (!batch_.empty() || !queue_.empty())) {
        attempt(lk);
        continue;
      }
      if (!forgets_.empty()) {
        forget_all(lk);
        continue;
      }
      auto now = Clock::now();
      bool pending = !batch_.empty() || spool_.pending() > 0 || !queue_.empty();
      if (stopping_ && !pending) {
        spool_.sync();
        all_delivered_ = true;
        break;
      }
      if (stopping_ && now >= deadline_) {
        spill_locked(nullptr, true);
        break;
      }
      bool backoff = !healthy_ && now < next_attempt_;
      bool ready = !batch_.empty() || spool_.pending() > 0 || queue_.size() >= p_.delivery.batch_size ||
                   (!queue_.empty() && (stopping_ || now - first_queued_ >= flush));
      if (ready && !backoff) {
        attempt(lk);
        continue;
      }
      if (spool_.dirty() && now - last_sync_ >= flush) {
        spool_.sync();
        last_sync_ = now;
      }
      auto wake = Clock::time_point::max();
      if (backoff) {
        wake = next_attempt_;
      } else if (!queue_.empty()) {
        wake = first_queued_ + flush;
      }
      if (spool_.dirty()) wake = std::min(wake, last_sync_ + flush);
      if (stopping_) wake = std::min(wake, deadline_);
      // A queue that waits for its flush time needs no wake-up per result,
      // only when a full batch has come: a futex wake and a context switch
      // per poll otherwise. The first result after idling starts the clock.
      std::size_t wake_after = 1;
      if (healthy_ && !backoff && spool_.pending() == 0 && !queue_.empty() && !stopping_)
        wake_after = p_.delivery.batch_size - queue_.size();
      sleep_until(lk, wake, wake_after);
    }
    finish_locked();
  }

  // Hands the forgotten groups to the sink, without mu_ held.
  void forget_all(std::unique_lock<std::mutex>& lk) {
    auto todo = std::move(forgets_);
    forgets_.clear();
    lk.unlock();
    for (auto& [app, gid] : todo) {
      try {
        sink_->forget(app, gid);
      } catch (const std::exception& e) {
        log::warn(events::sink_failed, "sink could not forget a group", {{"sink", p_.name}, {"error", e.what()}});
      }
    }
    lk.lock();
  }

  // Sleeps without mu_ (stats() and stop may take it), on the inbox's lock,
  // which push() and forget() take only for an append: until `wake` (max:
  // no deadline), the inbox holds `wake_after` results, a forget or a kick.
  void sleep_until(std::unique_lock<std::mutex>& lk, Clock::time_point wake, std::size_t wake_after) {
    lk.unlock();
    {
      std::unique_lock ik(inbox_mu_);
      wake_after_ = wake_after;
      auto woken = [this] { return inbox_.size() >= wake_after_ || !inbox_forgets_.empty() || kick_; };
      worker_waiting_ = true;
      if (wake == Clock::time_point::max()) {
        inbox_cv_.wait(ik, woken);
      } else {
        inbox_cv_.wait_until(ik, wake, woken);
      }
      worker_waiting_ = false;
      kick_ = false;
    }
    lk.lock();
  }

  // The worker ends (mu_ held): from here push() spools by itself; what
  // reached the inbox meanwhile is spooled now.
  void finish_locked() {
    std::vector<Result> left;
    {
      std::lock_guard ik(inbox_mu_);
      worker_gone_ = true;
      left.swap(inbox_);
    }
    if (!left.empty()) {
      all_delivered_ = false;
      for (const auto& r : left) spill_locked(&r, false);
      spool_.sync();
    }
    if (!batch_.empty() && batch_spool_bytes_ == 0) {
      // Only when the spool was at its cap behind this batch.
      note_dropped(batch_.size(), "spool full at shutdown");
      batch_.clear();
    }
    done_ = true;
    done_cv_.notify_all();
  }

  void attempt(std::unique_lock<std::mutex>& lk) {
    if (batch_.empty()) {
      if (spool_.pending() > 0) {
        std::uint64_t bytes = 0;
        batch_ = spool_.read_front(p_.delivery.batch_size, bytes);
        batch_spool_bytes_ = batch_.empty() ? 0 : bytes;
        if (batch_.empty()) return;
      } else {
        queue_.take(std::min(p_.delivery.batch_size, queue_.size()), batch_);
        batch_spool_bytes_ = 0;
      }
    }
    // While writing_ is set nobody else changes batch_ (they only read it,
    // under mu_), so the sink may read it without the lock.
    writing_ = true;
    write_started_ = Clock::now();
    lk.unlock();
    std::string err;
    bool ok = false;
    try {
      if (!opened_) {
        sink_->open();
        opened_ = true;
      }
      sink_->write(std::span<const Result>(batch_));
      ok = true;
    } catch (const std::exception& e) {
      err = e.what();
    } catch (...) {
      err = "unknown error";
    }
    lk.lock();
    writing_ = false;
    if (ok) {
      if (batch_spool_bytes_ > 0) spool_.consume(batch_spool_bytes_, batch_.size());
      delivered_ += batch_.size();
      batch_.clear();
      batch_spool_bytes_ = 0;
      if (!healthy_) {
        log::info(events::sink_recovered, "sink is taking results again",
                  {{"sink", p_.name}, {"failed_attempts", static_cast<std::uint64_t>(consecutive_)}});
      }
      healthy_ = true;
      consecutive_ = 0;
      return;
    }
    ++failures_;
    ++consecutive_;
    healthy_ = false;
    last_error_ = err;
    auto delay = backoff_delay();
    next_attempt_ = Clock::now() + delay;
    log::warn(events::sink_failed, "sink write failed; spooling and retrying",
              {{"sink", p_.name},
               {"error", err},
               {"attempt", static_cast<std::uint64_t>(consecutive_)},
               {"retry_in_ms", static_cast<std::int64_t>(delay.count())}});
    spill_locked(nullptr, true);
    last_sync_ = Clock::now();
  }

  milliseconds backoff_delay() {
    auto lo = p_.delivery.retry_min;
    auto hi = std::max(p_.delivery.retry_max, lo);
    auto d = lo;
    for (unsigned i = 1; i < consecutive_ && d < hi; ++i) d *= 2;
    d = std::min(d, hi);
    // Full jitter over the upper half keeps many sinks from retrying in step.
    std::uniform_int_distribution<std::int64_t> dist(d.count() / 2, d.count());
    return milliseconds(std::max<std::int64_t>(1, dist(rng_)));
  }

  /// Moves everything in memory (the batch if it can go at the spool's head,
  /// the queue, then `extra`) into the spool, applying the size cap.
  void spill_locked(const Result* extra, bool sync) {
    const std::uint64_t cap = p_.delivery.spool_max_bytes;
    if (!batch_.empty() && batch_spool_bytes_ == 0 && spool_.pending() == 0) {
      std::string buf;
      for (auto& r : batch_) detail::encode_record(r, buf);
      if (buf.size() <= cap) {
        try {
          if (spool_.file_bytes() + buf.size() > cap) spool_.compact();
          spool_.append(buf, batch_.size());
          batch_spool_bytes_ = buf.size();
        } catch (const std::exception& e) {
          note_spool_error(e.what());  // the batch stays in memory and is retried from there
        }
      }
    }
    std::string buf;
    std::vector<std::size_t> sizes;
    sizes.reserve(queue_.size() + 1);
    for (auto& r : queue_) sizes.push_back(detail::encode_record(r, buf));
    if (extra != nullptr) sizes.push_back(detail::encode_record(*extra, buf));
    queue_.clear();
    if (sizes.empty()) {
      if (sync) spool_.sync();
      return;
    }
    std::size_t first = 0, last = sizes.size();
    std::uint64_t begin = 0, total = buf.size();
    std::size_t dropped = 0;
    try {
      if (spool_.file_bytes() + total > cap && spool_.file_bytes() > spool_.pending_bytes()) spool_.compact();
      if (spool_.file_bytes() + total > cap && p_.delivery.drop_oldest) {
        // A batch being written right now is kept; one waiting for a retry
        // is the oldest and goes first (it is re-read from the spool).
        if (!writing_ && batch_spool_bytes_ > 0) {
          batch_.clear();
          batch_spool_bytes_ = 0;
        }
        std::uint64_t over = spool_.file_bytes() + total - cap;
        dropped += spool_.drop_front(batch_spool_bytes_, std::max(over, cap / 16));
      }
    } catch (const std::exception& e) {
      note_spool_error(e.what());
    }
    while (first < last && spool_.file_bytes() + total > cap) {
      if (p_.delivery.drop_oldest) {
        begin += sizes[first];
        total -= sizes[first++];
      } else {
        total -= sizes[--last];
      }
      ++dropped;
    }
    std::string_view reason = "spool full";
    if (first < last) {
      try {
        spool_.append(std::string_view(buf).substr(begin, total), last - first);
      } catch (const std::system_error& e) {
        // A full disk is not the spool's cap: say which.
        const bool disk_full = e.code().value() == ENOSPC || e.code().value() == EDQUOT;
        note_spool_error(disk_full ? "disk full: " + std::string(e.what()) : std::string(e.what()));
        dropped += last - first;
        reason = disk_full ? "disk full" : "spool write failed";
      } catch (const std::exception& e) {
        note_spool_error(e.what());
        dropped += last - first;
        reason = "spool write failed";
      }
    }
    if (dropped > 0) note_dropped(dropped, reason);
    if (sync) spool_.sync();
  }

  void note_dropped(std::size_t n, std::string_view why) {
    dropped_ += n;
    drops_unlogged_ += n;
    auto now = Clock::now();
    if (last_drop_log_ == Clock::time_point() || now - last_drop_log_ >= kDropLogEvery) {
      log::warn(events::sink_dropped, "results dropped",
                {{"sink", p_.name},
                 {"reason", why},
                 {"when_full", p_.delivery.drop_oldest ? "drop_oldest" : "drop_newest"},
                 {"count", drops_unlogged_},
                 {"total", dropped_}});
      drops_unlogged_ = 0;
      last_drop_log_ = now;
    }
  }

  void note_spool_error(const std::string& what) {
    last_error_ = what;
    auto now = Clock::now();
    if (last_spool_log_ == Clock::time_point() || now - last_spool_log_ >= kDropLogEvery) {
      log::error(events::sink_failed, "cannot write the spool", {{"sink", p_.name}, {"error", what}});
      last_spool_log_ = now;
    }
  }

  const std::string name_;
  const std::string state_dir_;
  std::string fingerprint_;  // polling thread only
  ParsedSink p_;
  std::unique_ptr<ParsedSink> replacement_;  // under mu_
  std::unique_ptr<Sink> sink_;
  mutable std::mutex mu_;
  // The polling thread's side: push() appends here under its own lock.
  mutable std::mutex inbox_mu_;
  mutable std::mutex stats_mu_;
  mutable SinkStats last_stats_;
  std::vector<Result> inbox_;
  std::vector<Result> drained_;  // worker thread, mu_ held: the inbox being queued
  std::vector<std::pair<std::string, std::string>> inbox_forgets_;
  std::condition_variable inbox_cv_;  // wakes the worker (paired with inbox_mu_)
  bool kick_ = false;                 // wake the worker: forget or stop
  bool worker_waiting_ = false;       // the worker sleeps on inbox_cv_
  std::size_t wake_after_ = 1;        // inbox size that wakes it (under inbox_mu_)
  bool worker_gone_ = false;          // the worker left its loop: push() spools
  std::condition_variable done_cv_;   // the worker has left its loop
  detail::Spool spool_;
  Fifo queue_;
  Clock::time_point first_queued_;
  std::vector<Result> batch_;            // being delivered or retried
  std::uint64_t batch_spool_bytes_ = 0;  // > 0: batch_ is also the spool's head, that long
  std::vector<std::pair<std::string, std::string>> forgets_;
  bool abandoned_ = false;  // stop gave up on a write that ignored cancel()
  bool opened_ = false;     // worker thread only
  bool writing_ = false;    // the worker is inside the sink with batch_
  bool healthy_ = true;
  unsigned consecutive_ = 0;
  Clock::time_point next_attempt_;
  Clock::time_point write_started_;
  Clock::time_point last_sync_;
  bool stopping_ = false;
  bool done_ = false;
  bool stopped_ = false;
  bool all_delivered_ = false;
  Clock::time_point deadline_;
  std::uint64_t delivered_ = 0;
  std::uint64_t dropped_ = 0;
  std::uint64_t failures_ = 0;
  std::uint64_t drops_unlogged_ = 0;
  Clock::time_point last_drop_log_;
  Clock::time_point last_spool_log_;
  std::string last_error_;
  std::minstd_rand rng_;  // worker thread only
  std::thread thread_;
};

[[noreturn]] void unusable(const std::string& what, const std::string& path, int err) {
  throw std::runtime_error("state_dir unusable: cannot " + what + " '" + path + "': " + std::strerror(err));
}

// Creating the directory is not enough: a read-only mount or a full disk
// only shows when writing, and better at startup than during an outage.
void probe_writable(const std::string& dir) {
  std::string probe = dir + "/.probe-" + std::to_string(::getpid());
  int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) unusable("write in", dir, errno);
  std::string block(4096, '\0');
  ssize_t n = ::write(fd, block.data(), block.size());
  int err = n < 0 ? errno : (static_cast<std::size_t>(n) != block.size() ? ENOSPC : 0);
  if (err == 0 && ::fdatasync(fd) != 0) err = errno;
  ::close(fd);
  ::unlink(probe.c_str());
  if (err != 0) unusable("write in", dir, err);
}

}  // namespace

struct Fanout::Impl {
  std::string state_dir, spool_dir;
  std::vector<std::unique_ptr<Worker>> workers;
  // Sinks removed by a reload, draining on threads of their own.
  struct Retiree {
    std::unique_ptr<Worker> worker;
    std::thread thread;
    bool delivered = false;  // written by the thread
  };
  std::vector<std::unique_ptr<Retiree>> retiring;
  std::mutex stop_mu;
  bool stopped = false;
  bool stop_result = false;

  // A sink of that name is coming back: its predecessor must have let go of
  // the spool file first (bounded by the grace it was given).
  void finish_retiree(const std::string& name) {
    for (auto& r : retiring) {
      if (!r->worker || r->worker->name() != name) continue;
      if (r->thread.joinable()) r->thread.join();
      r->worker.reset();    // closes the spool file before the new worker opens it
      r->delivered = true;  // what it left in the spool is the new worker's now
    }
  }
};

Fanout::Fanout(std::vector<ParsedSink> sinks, const std::string& state_dir) : impl_(std::make_unique<Impl>()) {
  std::string spool_dir = state_dir + "/spool";
  impl_->state_dir = state_dir;
  impl_->spool_dir = spool_dir;
  std::error_code ec;
  std::filesystem::create_directories(spool_dir, ec);
  if (ec) unusable("create spool directory", spool_dir, ec.value());
  probe_writable(spool_dir);
  std::set<std::string> names;
  for (auto& p : sinks) {
    if (!p.spec) throw std::invalid_argument("sink '" + p.name + "' has no settings");
    if (!names.insert(p.name).second) throw std::invalid_argument("duplicate sink name '" + p.name + "'");
    impl_->workers.push_back(std::make_unique<Worker>(std::move(p), state_dir, spool_dir));
  }
  for (auto& w : impl_->workers) w->start();
}

Fanout::~Fanout() {
  if (impl_) stop(kDefaultGrace);
}

void Fanout::push(const Result& r) {
  push(Result(r));
}

void Fanout::push(Result&& r) {
  auto& workers = impl_->workers;
  for (std::size_t i = 0; i + 1 < workers.size(); ++i) workers[i]->push(Result(r));
  if (!workers.empty()) workers.back()->push(std::move(r));
}

void Fanout::forget(const std::string& app, const std::string& group_id) {
  for (auto& w : impl_->workers) w->forget(app, group_id);
}

Fanout::Change Fanout::reconfigure(std::vector<ParsedSink> sinks, std::chrono::milliseconds grace) {
  Change change;
  auto& I = *impl_;
  auto current = [&](const std::string& name) -> Worker* {
    for (auto& w : I.workers)
      if (w->name() == name) return w.get();
    return nullptr;
  };
  // Everything that can fail first: new workers are built (spool opened)
  // before anything else changes.
  std::vector<std::unique_ptr<Worker>> added;
  std::vector<std::pair<Worker*, ParsedSink>> changed;
  std::set<std::string> names;
  for (auto& p : sinks) {
    if (!p.spec) throw std::invalid_argument("sink '" + p.name + "' has no settings");
    if (!names.insert(p.name).second) throw std::invalid_argument("duplicate sink name '" + p.name + "'");
    if (Worker* w = current(p.name)) {
      if (w->fingerprint() != p.fingerprint) changed.emplace_back(w, std::move(p));
      continue;
    }
    I.finish_retiree(p.name);
    added.push_back(std::make_unique<Worker>(std::move(p), I.state_dir, I.spool_dir));
  }
  for (auto& [w, p] : changed) {
    change.changed.push_back(w->name());
    w->replace(std::move(p));
  }
  for (auto it = I.workers.begin(); it != I.workers.end();) {
    if (names.count((*it)->name()) != 0) {
      ++it;
      continue;
    }
    change.removed.push_back((*it)->name());
    auto r = std::make_unique<Impl::Retiree>();
    r->worker = std::move(*it);
    it = I.workers.erase(it);
    auto deadline = Clock::now() + grace;
    r->worker->begin_stop(deadline);
    r->thread = std::thread([r = r.get(), deadline] { r->delivered = r->worker->finish_stop(deadline); });
    I.retiring.push_back(std::move(r));
  }
  for (auto& w : added) {
    change.added.push_back(w->name());
    w->start();
    I.workers.push_back(std::move(w));
  }
  return change;
}

bool Fanout::stop(std::chrono::milliseconds grace) {
  std::lock_guard lk(impl_->stop_mu);
  if (impl_->stopped) return impl_->stop_result;
  auto deadline = Clock::now() + grace;
  for (auto& w : impl_->workers) w->begin_stop(deadline);
  bool all = true;
  for (auto& r : impl_->retiring) {
    if (r->thread.joinable()) r->thread.join();
    if (!r->delivered) all = false;
  }
  for (auto& w : impl_->workers) {
    if (!w->finish_stop(deadline)) {
      all = false;
      log::warn(events::sink_spooled, "sink did not take everything before shutdown; the rest is spooled",
                {{"sink", w->name()}});
    }
  }
  impl_->stopped = true;
  impl_->stop_result = all;
  return all;
}

bool Fanout::abandoned() const {
  for (auto& w : impl_->workers)
    if (w->abandoned()) return true;
  return false;
}

std::vector<SinkStats> Fanout::stats() const {
  std::vector<SinkStats> out;
  out.reserve(impl_->workers.size());
  for (auto& w : impl_->workers) out.push_back(w->stats());
  return out;
}

}  // namespace groupwatch::delivery
