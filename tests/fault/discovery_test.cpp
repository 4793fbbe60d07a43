// Group discovery against the emulator: 25,000 groups of mixed types in three
// pages; only Community groups are polled, once a cycle, within the list
// command's 1 call a second and info's 50 IDs a call; groups created and
// dissolved at runtime join and leave; a listing cut off part-way changes
// nothing; `discover` previews the set. Intervals are scaled down.
#include <gtest/gtest.h>

#include <iostream>
#include <optional>

#include <fmt/format.h>

#include "fault/fault.hpp"

using namespace gwfault;

namespace {

constexpr std::size_t kTotal = 25000;
constexpr std::size_t kCommunityEvery = 25;  // 1,000 Community groups among 25,000

// 25,000 emulator groups; every 25th is Community, the rest cycle through
// the other four types. Returns the Community IDs.
std::vector<std::string> mixed_groups(emu::Options& o) {
  const emu::GroupType others[] = {emu::GroupType::public_group, emu::GroupType::private_group,
                                   emu::GroupType::chatroom, emu::GroupType::avchatroom};
  std::vector<std::string> community;
  auto ids = emu::generate_group_ids(kTotal, 11);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    emu::Group g;
    g.id = ids[i];
    g.type = i % kCommunityEvery == 0 ? emu::GroupType::community : others[i % 4];
    if (g.type == emu::GroupType::community) community.push_back(g.id);
    o.groups.push_back(std::move(g));
  }
  return community;
}

Cfg discovery_config(const Emulator& e, const TempDir& dir, const std::string& every) {
  Cfg c = config_for(e, dir);
  dir.write("groups.txt", "");  // nothing listed by hand
  c.interval = "8s";
  c.extra_app = "    discover:\n      every: " + every + "\n";
  c.sinks = {ndjson_sink(dir.file("out.ndjson"))};
  return c;
}

// 25,000 mixed groups; start() runs the emulator on them and gives the
// discovery config against it.
class Discovery : public ::testing::Test {
 protected:
  Cfg start(const std::string& every) {
    e.emplace(o);
    return discovery_config(*e, dir, every);
  }

  TempDir dir;
  emu::Options o;
  std::vector<std::string> community = mixed_groups(o);
  std::optional<Emulator> e;
};

}  // namespace

TEST_F(Discovery, PollsEveryCommunityGroupOnceACycleAndFollowsCreatesAndDissolves) {
  o.request_log_file = dir.file("requests.jsonl");
  Cfg c = start("10s");
  const auto admin_port = admin_on_free_port(c);
  const double started = now_unix();
  Process gw = start_run(dir, c);
  ASSERT_TRUE(results_within(dir, 30s));
  const double first_poll = now_unix() - started;
  // One whole cycle after the first listing.
  const double interval = 8;
  const double cycle_from = std::ceil(now_unix() / interval) * interval;
  sleep_s(cycle_from + interval + 2 - now_unix());

  // Runtime changes: 20 new Community groups (and 20 of another type), 20 dissolved.
  auto fresh = emu::generate_group_ids(40, 99);
  for (std::size_t i = 0; i < fresh.size(); ++i) {
    emu::Group g;
    g.id = fresh[i];
    g.type = i < 20 ? emu::GroupType::community : emu::GroupType::public_group;
    g.name = "new " + std::to_string(i);
    ASSERT_TRUE(e->server().create_group(g));
  }
  std::vector<std::string> gone(community.begin(), community.begin() + 20);
  for (auto& id : gone) ASSERT_TRUE(e->server().dissolve(id));
  const double changed_at = now_unix();
  // Picked up and dropped within `every` plus one cycle.
  sleep_s(changed_at + 10 + interval + 1 - now_unix());
  const double settled_at = now_unix();
  sleep_s(interval + 1);
  // Self-metrics: as many discovered groups after 20 joined and 20 left.
  const auto metrics = http_get(admin_port, "/metrics").body;
  EXPECT_NE(metrics.find("groupwatch_discovered_groups{app=\"test\"} " + std::to_string(community.size()) + "\n"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("groupwatch_discovery_listings_total{app=\"test\",result=\"failed\"} 0\n"), std::string::npos);
  EXPECT_EQ(metrics.find("groupwatch_discovery_listings_total{app=\"test\",result=\"ok\"} 0\n"), std::string::npos);
  EXPECT_EQ(metrics.find("groupwatch_discovery_listings_total{app=\"test\",result=\"ok\"} 1\n"), std::string::npos);
  gw.signal(SIGTERM);
  ASSERT_EQ(gw.wait(20s), 0) << read_file(dir.file("gw.err"));
  e->stop();

  std::set<std::string> is_community(community.begin(), community.end());
  for (std::size_t i = 0; i < 20; ++i) is_community.insert(fresh[i]);
  // A result belongs to the cycle of its group's slot (an answer to the
  // last slots of a cycle arrives after the cycle's end). Only results from
  // before the runtime changes count: groups joining and leaving move the
  // other groups' slots.
  const auto offsets = slot_offsets(community, interval);
  std::map<std::string, int> in_cycle;
  std::map<std::string, std::string> times;  // for the failure message
  std::map<std::string, double> last_result;
  std::map<std::string, std::string> names;
  for (auto& l : parse_ndjson(dir.file("out.ndjson"))) {
    const double t = parse_rfc3339(l.time);
    EXPECT_TRUE(is_community.count(l.group_id)) << "a group of another type was polled: " << l.group_id;
    auto slot = offsets.find(l.group_id);
    const double cycle_of_slot = slot == offsets.end() ? -1 : std::floor((t - slot->second) / interval) * interval;
    if (t < changed_at && cycle_of_slot == cycle_from) ++in_cycle[l.group_id];
    times[l.group_id] += fmt::format("{:.3f} ", t);
    last_result[l.group_id] = std::max(last_result[l.group_id], t);
    names[l.group_id] = l.group_name;
  }
  // Every Community group once in the whole cycle, none twice.
  std::size_t once = 0;
  const std::string overrun = log_line_with(read_file(dir.file("gw.err")), {"cycle.overrun"});
  for (auto& id : community) {
    EXPECT_LE(in_cycle[id], 1) << id << " slot " << offsets.at(id) << " cycle " << cycle_from << " results at "
                               << times[id] << overrun;
    once += in_cycle[id] == 1;
  }
  EXPECT_EQ(once, community.size());
  // The vendor's names travel with the results.
  EXPECT_EQ(names[community[50]], emu::default_group_name(community[50]));
  for (std::size_t i = 0; i < 20; ++i) {
    EXPECT_GT(last_result[fresh[i]], settled_at) << "new group not polled: " << fresh[i];
    EXPECT_EQ(names[fresh[i]], "new " + std::to_string(i));
  }
  for (auto& id : gone) EXPECT_LT(last_result[id], settled_at) << "dissolved group still polled: " << id;

  // Nothing but Community groups asked for counts; the commands' own limits held.
  std::size_t other_type = 0;
  for (auto& r : parse_request_log(dir.file("requests.jsonl")))
    other_type += !r.group.empty() && !is_community.count(r.group);
  EXPECT_EQ(other_type, 0u);
  auto st = e->server().stats();
  const auto& a = st.apps[kAppId];
  EXPECT_LE(a.list_max_window, 1u);
  EXPECT_LE(a.info_max_ids, 50u);
  EXPECT_GE(a.list_calls, 6u);  // three pages, listed at least twice
  EXPECT_LE(a.max_window, 200u);
  EXPECT_EQ(st.codes[60007], 0u);
  std::cout << "FIGURES discovery groups=" << kTotal << " community=" << community.size()
            << " start_to_first_poll_s=" << first_poll << " list_calls=" << a.list_calls
            << " info_calls=" << a.info_calls << " list_max_window=" << a.list_max_window << "\n";
}

// A listing that fails on page 2 keeps the watched set: the groups polled
// before stay polled, a group created meanwhile is not picked up until a
// listing completes again.
TEST_F(Discovery, AListingCutOffOnPageTwoLeavesTheWatchedSetAsItWas) {
  Cfg c = start("5s");
  Process gw = start_run(dir, c);
  ASSERT_TRUE(results_within(dir, 30s));
  e->server().set_list_fault(2, emu::Fault::e10002, 0);  // every listing fails on page 2 from now on
  auto fresh = emu::generate_group_ids(1, 77);
  ASSERT_TRUE(e->server().create_group(emu::Group{fresh[0], emu::GroupType::community, emu::Fault::none, "late"}));
  const double fault_at = now_unix();
  ASSERT_TRUE(wait_for([&] { return count_of(read_file(dir.file("gw.err")), "discovery.failed") >= 2; }, 40s))
      << read_file(dir.file("gw.err"));
  // A whole cycle after the failures: every group polled before still is.
  const double from = now_unix();
  sleep_s(8 + 1);
  std::set<std::string> polled;
  bool late_polled = false;
  for (auto& l : parse_ndjson(dir.file("out.ndjson"))) {
    const double t = parse_rfc3339(l.time);
    if (t >= from) polled.insert(l.group_id);
    if (l.group_id == fresh[0] && t >= fault_at) late_polled = true;
  }
  std::size_t still = 0;
  for (auto& id : community) still += polled.count(id);
  EXPECT_EQ(still, community.size());
  EXPECT_FALSE(late_polled);
  EXPECT_NE(log_line_with(read_file(dir.file("gw.err")), {"discovery.failed", "page 2", "10002"}), "");
  // The fault cleared, the next listing picks the new group up.
  e->server().set_list_fault(2, emu::Fault::none, 0);
  EXPECT_TRUE(wait_for(
      [&] {
        for (auto& l : parse_ndjson(dir.file("out.ndjson")))
          if (l.group_id == fresh[0]) return true;
        return false;
      },
      30s));
  gw.signal(SIGTERM);
  ASSERT_EQ(gw.wait(20s), 0) << read_file(dir.file("gw.err"));
}

// `discover` prints the set without polling; a wrong key exits 1 naming why.
TEST_F(Discovery, DiscoverPreviewsTheSetAndNamesAWrongKey) {
  Cfg c = start("1h");
  c.extra_app += "      exclude: [\"" + community[0] + "\"]\n";
  dir.write("gw.yaml", yaml(c));
  auto r = run({GW_BIN, "discover", "--config", dir.file("gw.yaml")});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(count_of(r.out, "\tCommunity\t"), community.size() - 1);
  EXPECT_EQ(r.out.find(community[0]), std::string::npos);
  EXPECT_NE(r.out.find("# test: " + std::to_string(community.size() - 1) + " of 25000 listed groups kept, " +
                       std::to_string(community.size() - 1) + " Community"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(e->server().stats().apps[kAppId].requests, 0u);  // nothing polled

  c.secret = "secret_key: not-the-key-0123456789";
  dir.write("bad.yaml", yaml(c));
  r = run({GW_BIN, "discover", "--config", dir.file("bad.yaml")});
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("get_appid_group_list page 1: ErrorCode 700"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("not-the-key"), std::string::npos);
}

// `once` lists first, then polls every kept group exactly once and exits 0.
TEST_F(Discovery, OnceListsThenPollsEveryKeptGroupOnce) {
  Cfg c = start("1h");
  // One discovered group is also on the watchlist, with a name and labels:
  // polled once, with the watchlist's name and its labels.
  c.groups_file = dir.file("groups.yaml");
  dir.write("groups.yaml", "- {id: \"" + community[3] + "\", name: \"Watch name\", labels: {tier: gold}}\n");
  dir.write("gw.yaml", yaml(c));
  auto r = run({GW_BIN, "once", "--config", dir.file("gw.yaml"), "--quiet"});
  EXPECT_EQ(r.status, 0) << r.err;
  std::map<std::string, int> results;
  for (auto& l : parse_ndjson(dir.file("out.ndjson"))) ++results[l.group_id];
  EXPECT_EQ(results.size(), community.size());
  for (auto& id : community) EXPECT_EQ(results[id], 1) << id;
  const auto text = read_file(dir.file("out.ndjson"));
  EXPECT_EQ(count_of(text, "\"group_name\":\"Watch name\",\"labels\":{\"tier\":\"gold\"}}"), 1u);
  EXPECT_EQ(count_of(text, "\"group_name\":\"" + emu::default_group_name(community[4]) + "\",\"labels\":{}}"), 1u);
}

// A reload that changes discover: lists again at once with the new settings:
// a group newly excluded stops getting results, the others go on.
TEST_F(Discovery, ReloadWithANewExcludeListsAgainAndDropsTheGroup) {
  Cfg c = start("1h");
  c.interval = "6s";
  Process gw = start_run(dir, c);
  auto polled_since = [&](const std::string& id, double t) {
    for (auto& l : parse_ndjson(dir.file("out.ndjson")))
      if (l.group_id == id && parse_rfc3339(l.time) >= t) return true;
    return false;
  };
  ASSERT_TRUE(wait_for([&] { return polled_since(community[7], 0); }, 30s)) << read_file(dir.file("gw.err"));
  c.extra_app += "      exclude: [\"" + community[7] + "\"]\n";
  reload(gw, dir, c);
  ASSERT_TRUE(wait_for([&] { return count_of(read_file(dir.file("gw.err")), "discovery.listed") >= 2; }, 30s))
      << read_file(dir.file("gw.err"));
  const double relisted = now_unix() + 0.5;  // results already in flight may land just after
  sleep_s(6 + 2);                            // a whole cycle after the new listing
  EXPECT_FALSE(polled_since(community[7], relisted));
  EXPECT_TRUE(polled_since(community[8], relisted));
  gw.signal(SIGTERM);
  ASSERT_EQ(gw.wait(20s), 0) << read_file(dir.file("gw.err"));
}
