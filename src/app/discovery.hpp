#pragma once
// Group discovery for one app: pages through get_appid_group_list (its own
// limiter at 1 call a second), asks get_group_info for Type and Name of 50
// groups a call (its own limiter at 200 a second), and keeps the groups of
// the configured types that match include and not exclude. Neither command
// touches the budget of get_online_member_num: the vendor limits each
// command on its own. Private to the app stage.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "app/budget.hpp"
#include "app/poller.hpp"
#include "groupwatch/config/config.hpp"

namespace groupwatch::app {

struct Listing {
  struct Found {
    std::string id;
    std::string type;
    config::GroupMetaPtr meta;  // the vendor's Name (null when it has none)
  };
  bool ok = false;
  std::string error;        // why it failed (no secret)
  std::vector<Found> kept;  // the groups to watch, in listing order
  std::size_t listed = 0;   // IDs the list command gave
  std::size_t pages = 0;    // list calls made
  std::map<std::string, std::size_t> kept_by_type;
  std::chrono::milliseconds took{0};
};

/// The two commands' limiters (and pools) of one SDKAppID and endpoint:
/// shared by every `apps` entry naming it, as the vendor counts per app.
struct DiscoveryBudgets {
  std::shared_ptr<Budget> list;  // 1 call a second
  std::shared_ptr<Budget> info;  // 200 calls a second
};
DiscoveryBudgets make_discovery_budgets(boost::asio::io_context& io, const config::AppSettings& app,
                                        const config::PollConfig& poll);

class Discoverer : public std::enable_shared_from_this<Discoverer> {
 public:
  Discoverer(boost::asio::io_context& io, const config::AppSettings& app, DiscoveryBudgets budgets);

  /// One whole listing (retrying each call a few times). A listing that
  /// fails part-way returns ok = false and nothing else. With `filter`
  /// false every group with a type is kept (the caller filters).
  boost::asio::awaitable<Listing> list(bool filter = true);

  /// Lists now and then every `every` (after a failure: again after a
  /// backoff from 5 s, doubling up to `every`); calls `on_listing` with each
  /// successful listing.
  void start(std::function<void(const Listing&)> on_listing);
  void stop();
  /// The newest successful listing.
  const std::optional<Listing>& last() const { return last_; }
  /// True when `app` lists the same way (credentials, endpoint, discover:).
  bool same_as(const config::AppSettings& app) const;
  std::uint64_t listings() const { return listings_; }
  std::uint64_t failures() const { return failures_; }
  double last_listing_unix() const { return last_listing_unix_; }

 private:
  struct Call;
  boost::asio::awaitable<void> loop();
  boost::asio::awaitable<std::string> call(Budget& budget, std::string_view path, std::string body,
                                           std::string& answer);
  boost::asio::awaitable<std::string> info_worker(std::vector<Listing::Found>& all, std::size_t& next,
                                                  std::size_t& failures);

  boost::asio::io_context& io_;
  config::AppSettings app_;  // without the key
  config::DiscoverConfig discover_;
  tencent::Endpoint endpoint_;
  UserSigCache sig_;
  std::shared_ptr<Budget> list_budget_;  // shared per SDKAppID and endpoint
  std::shared_ptr<Budget> info_budget_;
  boost::asio::steady_timer timer_;
  std::function<void(const Listing&)> on_listing_;
  std::optional<Listing> last_;
  std::uint64_t listings_ = 0, failures_ = 0;
  double last_listing_unix_ = 0;
  std::uint32_t random_ = 0;
  bool stopped_ = false;
};

}  // namespace groupwatch::app
