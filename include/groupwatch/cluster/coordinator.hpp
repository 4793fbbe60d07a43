#pragma once
// Several instances, each SDKAppID polled by exactly one (interface.md,
// "Cluster"). Each instance keeps one etcd lease alive; its member key
// (<prefix>/members/<name>) and every SDKAppID key it holds
// (<prefix>/apps/<SDKAppID>, value: its name) are bound to that lease, so
// they vanish when it dies. The Holding of an SDKAppID says "send" only
// while its key is ours and the lease cannot have lapsed at etcd: measured
// from when the last successful renewal was sent, minus a margin of a
// second and a half, so that the previous holder's last request and the
// next holder's first are never within one vendor window.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "groupwatch/cluster/holding.hpp"
#include "groupwatch/config/config.hpp"

namespace groupwatch::cluster {

/// The time between the last request a lapsing holder may send and the
/// earliest moment etcd can hand its key to another instance.
inline constexpr std::chrono::milliseconds fence_margin{1500};

struct ClusterStatus {
  std::string name;
  bool joined = false;     // a lease is granted and the member key is ours
  bool reachable = false;  // the lease cannot have lapsed: renewals are getting through
  std::string etcd_error;  // the last failure talking to etcd, when unreachable
  std::string endpoint;    // the etcd endpoint in use
  double lease_age_s = 0;  // since the last successful renewal was sent
  std::uint64_t renew_failures = 0;
  std::vector<std::string> members;  // live instance names
  struct App {
    std::uint64_t sdkappid = 0;
    bool held = false;
    std::string holder;  // as etcd last said; empty: free
    std::uint64_t acquired = 0, released = 0, lost = 0;
  };
  std::vector<App> apps;
};

class Coordinator {
 public:
  Coordinator(boost::asio::io_context& io, config::ClusterConfig cfg);
  ~Coordinator();
  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  /// The holding of `sdkappid`, made and campaigned for when first asked.
  std::shared_ptr<Holding> holding(std::uint64_t sdkappid);
  /// The SDKAppIDs to campaign for (start, reload); others are released.
  void set_apps(const std::vector<std::uint64_t>& sdkappids);
  /// Starts the lease and the campaign. `fatal` is called once (after an
  /// error is logged) when this instance must not run: its name is live
  /// under the prefix.
  void start(std::function<void()> fatal);
  /// Stops sending for everything, waits out the vendor's window, revokes
  /// the lease (the others take over at once), then calls `done`.
  void leave(std::function<void()> done);
  ClusterStatus status() const;
  const config::ClusterConfig& config() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace groupwatch::cluster
