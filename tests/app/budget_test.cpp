// The shared budget: permits in queue order, contenders counted, and the
// cap held across the apps entries that share it.
#include "app/budget.hpp"

#include <gtest/gtest.h>

#include <vector>

#include <boost/asio/io_context.hpp>

namespace {

using groupwatch::app::Budget;
using namespace std::chrono_literals;

groupwatch::http::PoolOptions options() {
  groupwatch::http::PoolOptions po;
  po.host = "127.0.0.1";
  po.port = "9";
  po.max_connections = 8;
  return po;
}

struct Waiter : groupwatch::http::Gate::Waiter {
  Waiter(std::vector<int>& log, int id) : log_(log), id_(id) {}
  void admitted() override { log_.push_back(id_); }
  std::vector<int>& log_;
  int id_;
};

TEST(Budget, AdmitsQueuedRequestsInOrderAtTheRate) {
  boost::asio::io_context io;
  auto b = std::make_shared<Budget>(io, 50, options());
  std::vector<int> order;
  std::vector<Waiter> ws;
  ws.reserve(5);
  for (int i = 0; i < 5; ++i) ws.emplace_back(order, i);
  // The bucket's burst is one permit: the first goes at once, the rest queue.
  ASSERT_TRUE(b->try_admit());
  for (auto& w : ws) b->enqueue(&w);
  EXPECT_FALSE(b->try_admit());  // nobody jumps the queue
  io.run_for(400ms);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(b->queued(), 0u);
  EXPECT_EQ(b->permits(), 6u);
}

TEST(Budget, ADequeuedWaiterTakesNoPermit) {
  boost::asio::io_context io;
  // At 2 qps the next permit is 500 ms away: enqueue() cannot admit `a` on
  // the spot even on a slow, loaded machine.
  auto b = std::make_shared<Budget>(io, 2, options());
  std::vector<int> order;
  Waiter a(order, 1), c(order, 2);
  ASSERT_TRUE(b->try_admit());
  b->enqueue(&a);
  b->enqueue(&c);
  b->dequeue(&a);
  io.run_for(800ms);
  EXPECT_EQ(order, std::vector<int>{2});
  EXPECT_EQ(b->permits(), 2u);
}

TEST(Budget, ContendersCountUntilAdmittedOrWithdrawn) {
  boost::asio::io_context io;
  auto b = std::make_shared<Budget>(io, 200, options());
  int woken = 0;
  b->subscribe(&woken, [&] { ++woken; });
  b->contend();
  b->contend();
  EXPECT_EQ(b->contenders(), 2u);
  ASSERT_TRUE(b->try_admit());
  EXPECT_EQ(b->contenders(), 1u);
  b->withdraw();
  EXPECT_EQ(b->contenders(), 0u);
  EXPECT_EQ(woken, 2);  // each admission and withdrawal wakes the dispatchers
  b->unsubscribe(&woken);
  b->contend();
  b->withdraw();
  EXPECT_EQ(woken, 2);
}

TEST(Budget, AReloadKeepsTheLoweredRateAndThePoolUnlessTheirSettingsChange) {
  boost::asio::io_context io;
  auto b = std::make_shared<Budget>(io, 200, options());
  auto pool = b->pool();
  for (int i = 0; i < 3; ++i) b->on_rate_limited();
  const double lowered = b->effective_qps();
  ASSERT_LT(lowered, 200);
  EXPECT_FALSE(b->update(200, options()));
  EXPECT_EQ(b->pool(), pool);
  EXPECT_EQ(b->effective_qps(), lowered);
  auto po = options();
  po.timeout = 1s;
  EXPECT_TRUE(b->update(200, po));
  EXPECT_NE(b->pool(), pool);
  EXPECT_EQ(b->effective_qps(), lowered);
  b->update(100, po);
  EXPECT_LE(b->effective_qps(), 100);
}

TEST(Budget, KeyIsSdkAppIdAndEndpoint) {
  groupwatch::config::AppConfig a, c;
  a.sdkappid = c.sdkappid = 1400000001;
  a.endpoint = c.endpoint = "https://adminapisgp.im.qcloud.com";
  a.name = "one";
  c.name = "two";
  EXPECT_EQ(groupwatch::app::budget_key(a), groupwatch::app::budget_key(c));
  c.endpoint = "https://console.tim.qq.com";
  EXPECT_NE(groupwatch::app::budget_key(a), groupwatch::app::budget_key(c));
}

}  // namespace

namespace {

TEST(Budget, MarginFollowsTheMeasuredSpreadWithinBounds) {
  boost::asio::io_context io;
  auto b = std::make_shared<Budget>(io, 200, options());
  EXPECT_EQ(b->margin(), std::chrono::milliseconds(8));
  for (int i = 0; i < 20; ++i) b->observe(std::chrono::milliseconds(1));
  EXPECT_EQ(b->margin(), std::chrono::milliseconds(8));  // steady answers: the floor
  b->observe(std::chrono::milliseconds(31));             // one arrival 30 ms late
  EXPECT_EQ(b->margin(), std::chrono::milliseconds(32));
  b->observe(std::chrono::seconds(2));  // a stall: bounded
  EXPECT_EQ(b->margin(), std::chrono::milliseconds(50));
}

}  // namespace
