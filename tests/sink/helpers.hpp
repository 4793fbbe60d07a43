#pragma once
// Shared helpers for the sink tests: results, a sink that fails on demand,
// and parsing sink entries from YAML text (directories: support/harness.hpp).
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <yaml-cpp/yaml.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "groupwatch/config/config.hpp"
#include "groupwatch/delivery/fanout.hpp"
#include "groupwatch/delivery/sink.hpp"
#include "support/harness.hpp"

namespace gw_test {

using namespace groupwatch;

inline delivery::Result make_result(int i, std::int64_t error_code = 0) {
  delivery::Result r;
  r.time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1'700'000'000'000LL + i));
  r.app = "prod-sg";
  r.sdkappid = 1400000001;
  r.group_id = "@TGS#_group" + std::to_string(i);
  r.error_code = error_code;
  if (error_code == 0) {
    r.online_member_num = static_cast<std::uint64_t>(i);
  } else {
    r.error_info = "failure " + std::to_string(i);
  }
  return r;
}

/// Results 0 to n-1, every fourth an error row (10015): 3, 7, ...
inline std::vector<delivery::Result> mixed_results(int n) {
  std::vector<delivery::Result> out;
  for (int i = 0; i < n; ++i) out.push_back(make_result(i, i % 4 == 3 ? 10015 : 0));
  return out;
}

/// The sink benchmark shared by the real-server tests: 20,000 results (one
/// in ten an error row) in batches of 500. Prints results/s and the client's
/// CPU per result, records results_per_second, returns how many were written.
inline int write_throughput(delivery::Sink& s, const std::string& label) {
  constexpr int kTotal = 20'000;
  constexpr int kBatch = 500;
  std::vector<delivery::Result> all;
  for (int i = 0; i < kTotal; ++i) all.push_back(make_result(i, i % 10 == 0 ? 10015 : 0));
  rusage before{}, after{};
  getrusage(RUSAGE_SELF, &before);
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kTotal; i += kBatch) s.write(std::span(all).subspan(i, kBatch));
  auto wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  getrusage(RUSAGE_SELF, &after);
  auto cpu_us = [](const rusage& r) {
    return (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1e6 + r.ru_utime.tv_usec + r.ru_stime.tv_usec;
  };
  double cpu_per_result = (cpu_us(after) - cpu_us(before)) / kTotal;
  std::cout << "[ " << label << " ] " << kTotal << " results in batches of " << kBatch << ": " << wall << " s, "
            << static_cast<int>(kTotal / wall) << " results/s, client CPU " << cpu_per_result << " us/result\n";
  ::testing::Test::RecordProperty("results_per_second", static_cast<int>(kTotal / wall));
  return kTotal;
}

/// A group's watchlist name and labels, as results carry them.
inline config::GroupMetaPtr meta_of(std::string name, std::vector<std::pair<std::string, std::string>> labels) {
  return std::make_shared<const config::GroupMeta>(config::GroupMeta{std::move(name), std::move(labels)});
}

/// Index encoded in a group id made by make_result.
inline int index_of(const delivery::Result& r) {
  return std::stoi(r.group_id.substr(std::string("@TGS#_group").size()));
}

struct FakeState {
  std::atomic<bool> fail{false};
  std::atomic<int> sleep_ms{0};
  std::atomic<int> attempts{0};
  std::atomic<int> opens{0};
  std::mutex mu;
  std::vector<delivery::Result> got;
  std::vector<std::size_t> batches;  // the size of each delivered write
  std::vector<std::string> forgotten;
  std::thread::id writer;

  std::vector<int> indices() {
    std::lock_guard lk(mu);
    std::vector<int> out;
    for (auto& r : got) out.push_back(index_of(r));
    return out;
  }
  std::size_t count() {
    std::lock_guard lk(mu);
    return got.size();
  }
};

/// The state of a fake sink that fails every write until `fail` is cleared.
inline std::shared_ptr<FakeState> failing_state() {
  auto st = std::make_shared<FakeState>();
  st->fail = true;
  return st;
}

class FakeSink : public delivery::Sink {
 public:
  explicit FakeSink(std::shared_ptr<FakeState> st) : st_(std::move(st)) {}
  void open() override { st_->opens++; }
  void write(std::span<const delivery::Result> batch) override {
    st_->attempts++;
    if (int ms = st_->sleep_ms.load()) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    if (st_->fail) throw std::runtime_error("fake sink is down");
    std::lock_guard lk(st_->mu);
    st_->writer = std::this_thread::get_id();
    st_->got.insert(st_->got.end(), batch.begin(), batch.end());
    st_->batches.push_back(batch.size());
  }
  void forget(const std::string& app, const std::string& group_id) override {
    std::lock_guard lk(st_->mu);
    st_->forgotten.push_back(app + "/" + group_id);
  }

 private:
  std::shared_ptr<FakeState> st_;
};

class FakeSpec : public delivery::SinkSpec {
 public:
  explicit FakeSpec(std::shared_ptr<FakeState> st) : st_(std::move(st)) {}
  std::string describe() const override { return "fake"; }
  std::unique_ptr<delivery::Sink> create(const delivery::SinkContext&) const override {
    return std::make_unique<FakeSink>(st_);
  }

 private:
  std::shared_ptr<FakeState> st_;
};

inline delivery::DeliveryOptions fast_options() {
  delivery::DeliveryOptions d;
  d.batch_size = 10;
  d.flush_interval = 10ms;
  d.queue_size = 50;
  d.retry_min = 5ms;
  d.retry_max = 20ms;
  return d;
}

inline std::vector<delivery::ParsedSink> fake_sinks(std::shared_ptr<FakeState> st,
                                                    delivery::DeliveryOptions d = fast_options(),
                                                    std::string name = "fake") {
  std::vector<delivery::ParsedSink> v;
  delivery::ParsedSink p;
  p.type = "fake";
  p.name = std::move(name);
  p.delivery = d;
  p.spec = std::make_unique<FakeSpec>(std::move(st));
  v.push_back(std::move(p));
  return v;
}

/// Polls `pred` every 2 ms until it holds or `timeout` passes.
inline bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 10s) {
  return wait_for(pred, timeout, 2ms);
}

inline std::vector<int> range(int from, int to) {
  std::vector<int> v;
  for (int i = from; i < to; ++i) v.push_back(i);
  return v;
}

/// A suite against one real server (Postgres, Influx) started once for all
/// its tests: each test is skipped where `unavailable` says why the server
/// cannot run here, fails where it did not start, and is readied by
/// prepare() once the server is there.
template <class Server, std::string (*unavailable)()>
class RealServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    unavailable_ = unavailable();
    if (!unavailable_.empty()) return;
    try {
      server_ = std::make_unique<Server>();
      server_->start();
    } catch (const std::exception& e) {
      start_error_ = e.what();
    }
  }
  static void TearDownTestSuite() { server_.reset(); }  // stops it, removes its directory

  void SetUp() override {
    if (!unavailable_.empty()) GTEST_SKIP() << unavailable_;
    ASSERT_TRUE(start_error_.empty()) << start_error_;
    prepare();
  }
  virtual void prepare() {}

  /// The running test's name: a table or database of its own.
  static std::string test_name() { return ::testing::UnitTest::GetInstance()->current_test_info()->name(); }

  static inline std::string unavailable_;
  static inline std::string start_error_;
  static inline std::unique_ptr<Server> server_;
};

/// Parses `sinks:` entries written as a YAML list.
struct Parsed {
  std::vector<delivery::ParsedSink> sinks;
  config::Diagnostics diags;
  std::string errors() const {
    std::string s;
    for (auto& d : diags.all()) s += d.format() + "\n";
    return s;
  }
};

inline Parsed parse_yaml(const std::string& yaml) {
  Parsed p;
  YAML::Node list = YAML::Load(yaml);
  std::vector<config::SinkConfig> cfgs;
  for (std::size_t i = 0; i < list.size(); ++i) {
    YAML::Node node = list[i];
    config::SinkConfig c;
    c.node = node;
    c.file = "test.yaml";
    c.mark = config::mark_of(node);
    if (node["type"] && node["type"].IsScalar()) c.type = node["type"].Scalar();
    cfgs.push_back(c);
  }
  auto env = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  p.sinks = delivery::parse_sinks(cfgs, p.diags, env);
  return p;
}

/// The one sink `yaml` describes, its relative paths under `state_dir` (none by
/// default); throws naming the errors when `yaml` is not one valid sink.
inline std::unique_ptr<delivery::Sink> make_sink(const std::string& yaml,
                                                 const std::string& state_dir = "/nonexistent") {
  auto p = parse_yaml(yaml);
  if (p.diags.has_errors() || p.sinks.size() != 1) throw std::runtime_error("bad sink config: " + p.errors());
  return p.sinks[0].spec->create(delivery::SinkContext{state_dir, p.sinks[0].name});
}

}  // namespace gw_test
