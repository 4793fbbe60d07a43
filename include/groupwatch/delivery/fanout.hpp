#pragma once
// Delivery: one worker thread and one bounded queue per sink, batching by
// size and age, retries with backoff, and a checksummed on-disk spool so that
// nothing fetched is lost when a sink is down, full, or the process dies.
// push() is called on the polling thread and never blocks on a sink.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/describe/class.hpp>

#include "groupwatch/delivery/result.hpp"
#include "groupwatch/delivery/sink.hpp"

namespace groupwatch::delivery {

struct SinkStats {
  std::string name;
  std::string type;
  std::size_t queue_depth = 0;    // results held in memory
  std::size_t spooled = 0;        // results waiting in the spool
  std::uint64_t spool_bytes = 0;  // size of the spool file
  std::uint64_t delivered = 0;
  std::uint64_t dropped = 0;   // at the spool cap (when_full)
  std::uint64_t failures = 0;  // failed write attempts
  bool healthy = true;         // last write succeeded (or none tried yet)
  std::string last_error;
};
// The status document writes a sink's stats member by member, as described here:
// a member added to SinkStats goes in the list too.
BOOST_DESCRIBE_STRUCT(SinkStats, (),
                      (name, type, queue_depth, spooled, spool_bytes, delivered, dropped, failures, healthy,
                       last_error))

class Fanout {
 public:
  /// Starts one worker per sink; replays each sink's spool first. Throws
  /// std::runtime_error with a clear message when state_dir is unusable.
  Fanout(std::vector<ParsedSink> sinks, const std::string& state_dir);
  ~Fanout();  // stop(default grace)

  /// Non-blocking: copies `r` into every sink's queue (spilling to the
  /// spool when a queue is full).
  void push(const Result& r);
  /// The same; the last sink's queue takes `r` itself.
  void push(Result&& r);
  void forget(const std::string& app, const std::string& group_id);

  /// Flushes every sink within `grace`; whatever is not delivered by then is
  /// spooled. Returns true when every sink took everything.
  bool stop(std::chrono::milliseconds grace);

  std::vector<SinkStats> stats() const;
  /// After stop(): a sink's write neither finished nor returned when
  /// cancelled; its thread is still inside it. Everything else is spooled:
  /// the caller should end the process (std::_Exit) rather than wait.
  bool abandoned() const;

  /// What a reload changed, by sink name.
  struct Change {
    std::vector<std::string> added, removed, changed;
    bool empty() const { return added.empty() && removed.empty() && changed.empty(); }
  };
  /// Applies a reloaded `sinks:` list, on the polling thread, without waiting
  /// for any sink: an unchanged entry keeps its worker; a changed one keeps
  /// its queue and spool and swaps to the new settings between two writes; a
  /// removed one drains within `grace` on a thread of its own, and what it
  /// could not deliver stays in its spool for a later return; an added one
  /// starts (replaying its spool). Throws (changing nothing) when an added
  /// sink cannot start.
  Change reconfigure(std::vector<ParsedSink> sinks, std::chrono::milliseconds grace);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace groupwatch::delivery
