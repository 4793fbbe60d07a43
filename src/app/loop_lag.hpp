#pragma once
// How late the io_context runs its timers: a probe every `every`, each
// measuring how long after its deadline it ran. The polling thread's health
// in one number (a blocked loop shows here before anywhere else). Private to
// the app stage.
#include <chrono>
#include <cstddef>
#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

namespace groupwatch::app {

struct LagStats {
  double p50_s = 0, p99_s = 0, max_s = 0;  // over the window
  std::size_t samples = 0;
};

/// Pure: the quantiles of the samples kept (tested without a loop).
class LagWindow {
 public:
  explicit LagWindow(std::size_t keep) : ring_(keep) {}
  void add(std::chrono::nanoseconds lag);
  LagStats stats() const;

 private:
  std::vector<std::chrono::nanoseconds> ring_;
  std::size_t next_ = 0, count_ = 0;
};

class LoopLag {
 public:
  /// Keeps the last `window` of probes, one every `every`.
  LoopLag(boost::asio::io_context& io, std::chrono::milliseconds every = std::chrono::milliseconds(50),
          std::chrono::seconds window = std::chrono::seconds(60));
  ~LoopLag();
  void start();
  void stop();
  LagStats stats() const { return window_.stats(); }

 private:
  void arm();
  boost::asio::steady_timer timer_;
  std::chrono::milliseconds every_;
  LagWindow window_;
  std::chrono::steady_clock::time_point due_{};
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace groupwatch::app
