// docs/interface.md is the contract: every key the config parser accepts is in it.
// The keys come from the parser itself (the "valid keys" list of its unknown-key error,
// and each sink type's own and delivery keys), so a key added to the code without its
// documentation fails here.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "groupwatch/delivery/sink.hpp"
#include "harness.hpp"

using namespace gwtest;

namespace {

std::string contract() {
  std::ifstream in(std::string(GW_SOURCE_DIR) + "/docs/interface.md");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A key is documented when it appears as a YAML key ("  key:") or in backticks ("`key`",
// "`section.key`", "`key: ...`").
bool documented(const std::string& doc, const std::string& key) {
  const std::regex as_yaml("(^|\\n)[ -]*" + key + ":");
  const std::regex in_ticks("`([a-z_]+\\.)?" + key + "[`:= ]");
  return std::regex_search(doc, as_yaml) || std::regex_search(doc, in_ticks);
}

TEST(Docs, EveryConfigKeyTheParserKnowsIsInTheContract) {
  TempDir dir;
  dir.write("key", "k");
  ::chmod(dir.file("key").c_str(), 0600);
  // One unknown key in every section: the parser answers with each section's valid keys.
  dir.write("gw.yaml", R"(apps:
  - name: a
    sdkappid: 1
    admin: x
    secret_key_file: key
    endpoint: https://127.0.0.1:1
    groups: ["@TGS#_@TGS#AAAAAAAAAAAA"]
    zzunknownzz: 1
poll: {zzunknownzz: 1}
admin: {zzunknownzz: 1}
log: {zzunknownzz: 1}
zzunknownzz: 1
sinks:
  - {type: ndjson, path: x}
)");
  auto r = run({GW_BIN, "check", "--config", dir.file("gw.yaml")});
  ASSERT_EQ(r.status, 2) << r.err;
  std::map<std::string, std::set<std::string>> keys;  // section -> keys
  const std::regex line("unknown key 'zzunknownzz' in ([^;]+); valid keys: ([^\\n]+)");
  for (std::sregex_iterator it(r.err.begin(), r.err.end(), line), end; it != end; ++it) {
    std::stringstream list((*it)[2].str());
    std::string k;
    while (std::getline(list, k, ',')) keys[(*it)[1].str()].insert(k.substr(k.find_first_not_of(' ')));
  }
  ASSERT_EQ(keys.size(), 5u) << r.err;  // apps[0], poll, admin, log, the config
  for (const auto& type : {"ndjson", "sqlite", "postgres", "influxdb", "prometheus"}) {
    auto sk = groupwatch::delivery::sink_keys(type);
    ASSERT_FALSE(sk.own.empty()) << type;
    keys[std::string("sink ") + type].insert(sk.own.begin(), sk.own.end());
    keys["sink delivery"].insert(sk.delivery.begin(), sk.delivery.end());
  }
  const auto doc = contract();
  std::size_t n = 0;
  for (const auto& [section, ks] : keys) {
    for (const auto& k : ks) {
      ++n;
      EXPECT_TRUE(documented(doc, k)) << "docs/interface.md does not document " << section << " key '" << k << "'";
    }
  }
  EXPECT_GE(n, 50u);
}

}  // namespace
