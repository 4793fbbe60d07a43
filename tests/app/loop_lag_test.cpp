// The event loop's lag: quantiles of the probes kept, and a blocked loop seen.
#include "app/loop_lag.hpp"

#include <gtest/gtest.h>

#include <thread>

#include <boost/asio/post.hpp>

namespace {

using groupwatch::app::LagWindow;
using groupwatch::app::LoopLag;
using namespace std::chrono_literals;

TEST(LoopLag, WindowQuantilesOverTheKeptSamples) {
  LagWindow w(100);
  for (int i = 1; i <= 100; ++i) w.add(std::chrono::milliseconds(i));
  auto s = w.stats();
  EXPECT_EQ(s.samples, 100u);
  EXPECT_NEAR(s.p50_s, 0.050, 0.0015);
  EXPECT_NEAR(s.p99_s, 0.099, 0.0015);
  EXPECT_DOUBLE_EQ(s.max_s, 0.100);
  // Older samples fall out of the window.
  for (int i = 0; i < 100; ++i) w.add(1ms);
  EXPECT_DOUBLE_EQ(w.stats().max_s, 0.001);
}

TEST(LoopLag, ABlockedLoopShowsAsLag) {
  boost::asio::io_context io;
  LoopLag lag(io, 10ms, 10s);
  lag.start();
  // A handler that blocks the loop for 80 ms.
  boost::asio::post(io, [] { std::this_thread::sleep_for(80ms); });
  io.run_for(200ms);
  auto s = lag.stats();
  EXPECT_GT(s.samples, 3u);
  EXPECT_GE(s.max_s, 0.060);
  lag.stop();
}

}  // namespace
