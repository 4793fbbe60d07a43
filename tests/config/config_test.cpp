#include "groupwatch/config/config.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/helpers.hpp"

namespace groupwatch::config {
namespace {

namespace {
// config/ as installed in /etc/groupwatch, with the key file the default
// config reads.
std::string installed_config_dir() {
  static const std::string dir = [] {
    std::string tmpl = (std::filesystem::temp_directory_path() / "gw-etc-XXXXXX").string();
    std::string d = ::mkdtemp(tmpl.data());
    std::filesystem::copy(GW_SOURCE_DIR "/config", d, std::filesystem::copy_options::recursive);
    std::ofstream(d + "/secret_key") << "example-secret-key";
    std::filesystem::permissions(d + "/secret_key", std::filesystem::perms::owner_read,
                                 std::filesystem::perm_options::replace);
    return d;
  }();
  return dir;
}
}  // namespace

TEST(ExampleConfigs, EveryYamlInConfigDirLoadsWithoutErrors) {
  const auto env = env_of({{"TIM_SECRET_KEY", "example-secret"}});
  int loaded = 0;
  for (const auto& entry : std::filesystem::directory_iterator(installed_config_dir())) {
    if (entry.path().extension() != ".yaml") continue;
    SCOPED_TRACE(entry.path().string());
    const auto r = load_config(entry.path().string(), env);
    EXPECT_THAT(errors(r), IsEmpty()) << joined(errors(r));
    ASSERT_TRUE(r.config.has_value());
    EXPECT_FALSE(r.config->apps.empty());
    EXPECT_GT(r.config->total_groups(), 0u);
    EXPECT_FALSE(r.config->sinks.empty());
    ++loaded;
  }
  EXPECT_GE(loaded, 2);
}

TEST(ExampleConfigs, DemoHasTheDocumentedShape) {
  const auto r = load_config(GW_SOURCE_DIR "/config/demo.yaml", env_of({}));
  ASSERT_TRUE(r.config) << joined(errors(r));
  const Config& c = *r.config;
  ASSERT_EQ(c.apps.size(), 1u);
  const AppConfig& a = c.apps[0];
  EXPECT_EQ(a.name, "demo");
  EXPECT_EQ(a.sdkappid, 1400000001u);
  EXPECT_EQ(a.admin, "administrator");
  EXPECT_EQ(a.secret_key, "demo-secret-key-0123456789abcdef");
  EXPECT_EQ(a.endpoint, "https://127.0.0.1:18443");
  EXPECT_EQ(a.ca_file, "/tmp/groupwatch-demo/ca.pem");
  EXPECT_FALSE(a.vendor);
  EXPECT_DOUBLE_EQ(a.qps, 200);
  EXPECT_EQ(a.groups.size(), 3000u);
  for (const auto& g : a.groups) ASSERT_THAT(g, ::testing::MatchesRegex("@TGS#_@TGS#[A-Z0-9]{12}"));
  EXPECT_EQ(c.poll.interval, std::chrono::seconds(30));
  EXPECT_EQ(c.state_dir, "/tmp/groupwatch-demo");
  ASSERT_EQ(c.sinks.size(), 2u);
  EXPECT_EQ(c.sinks[0].type, "sqlite");
  EXPECT_EQ(c.sinks[1].type, "ndjson");
  // Sinks stay raw: the sink layer interpolates and checks its own keys.
  EXPECT_EQ(c.sinks[0].node["path"].Scalar(), "${GW_DEMO_STATE:-/tmp/groupwatch-demo}/groupwatch.db");
  EXPECT_EQ(c.sinks[1].node["path"].Scalar(), "${GW_DEMO_STATE:-/tmp/groupwatch-demo}/samples.ndjson");
}

TEST(ExampleConfigs, DemoFollowsItsEnvironment) {
  const auto r = load_config(GW_SOURCE_DIR "/config/demo.yaml",
                             env_of({{"GW_DEMO_PORT", "19443"}, {"GW_DEMO_KEY", "other"}, {"GW_DEMO_STATE", "/x/y"}}));
  ASSERT_TRUE(r.config) << joined(errors(r));
  EXPECT_EQ(r.config->apps[0].endpoint, "https://127.0.0.1:19443");
  EXPECT_EQ(r.config->apps[0].secret_key, "other");
  EXPECT_EQ(r.config->state_dir, "/x/y");
}

TEST(ExampleConfigs, DefaultConfigNeedsItsKeyFile) {
  const auto r = load_config(GW_SOURCE_DIR "/config/groupwatch.yaml", env_of({}));
  EXPECT_FALSE(r.config);
  ASSERT_EQ(errors(r).size(), 1u) << joined(errors(r));
  EXPECT_THAT(errors(r)[0], HasSubstr("cannot read secret_key_file"));
  EXPECT_THAT(errors(r)[0], HasSubstr("/config/groupwatch.yaml:"));
}

// The installed default polls the vendor (region + key file), not the
// emulator with a CA file that does not exist.
TEST(ExampleConfigs, DefaultConfigValues) {
  const auto r = load_config(installed_config_dir() + "/groupwatch.yaml", env_of({}));
  ASSERT_TRUE(r.config) << joined(errors(r));
  const Config& c = *r.config;
  EXPECT_EQ(c.apps[0].endpoint, "https://adminapisgp.im.qcloud.com");
  EXPECT_TRUE(c.apps[0].vendor);
  EXPECT_EQ(c.apps[0].ca_file, "");
  EXPECT_EQ(c.apps[0].secret_key, "example-secret-key");
  EXPECT_EQ(c.apps[0].groups.size(), 6u);  // 1 inline + 5 in watchlists/example.txt
  EXPECT_EQ(c.admin.listen, "127.0.0.1:9108");
  EXPECT_EQ(c.poll.interval, std::chrono::minutes(4));
  EXPECT_EQ(c.state_dir, "/var/lib/groupwatch");
  ASSERT_EQ(c.sinks.size(), 2u);
  EXPECT_EQ(c.sinks[0].node["path"].Scalar(), "groupwatch.db");  // under state_dir
  const auto moved = load_config(installed_config_dir() + "/groupwatch.yaml",
                                 env_of({{"GW_STATE_DIR", "/srv/gw"}, {"GW_ADMIN_LISTEN", "0.0.0.0:9108"}}));
  ASSERT_TRUE(moved.config) << joined(errors(moved));
  EXPECT_EQ(moved.config->state_dir, "/srv/gw");
  EXPECT_EQ(moved.config->admin.listen, "0.0.0.0:9108");
}

using test::Load;

TEST_F(Load, MinimalConfigGetsDefaults) {
  const auto r = load(kApp);
  ASSERT_TRUE(r.config) << joined(errors(r));
  const Config& c = *r.config;
  EXPECT_EQ(c.poll.interval, std::chrono::minutes(4));
  EXPECT_EQ(c.poll.timeout, std::chrono::seconds(5));
  EXPECT_EQ(c.poll.connections, 128);
  EXPECT_EQ(c.poll.retries, 3);
  EXPECT_FALSE(c.poll.max_qps);
  EXPECT_EQ(c.log.level, "info");
  EXPECT_EQ(c.log.format, "logfmt");
  EXPECT_EQ(c.admin.listen, "");
  EXPECT_DOUBLE_EQ(c.apps[0].qps, 200);
  EXPECT_EQ(c.apps[0].usersig_ttl, std::chrono::hours(24));
  EXPECT_TRUE(c.apps[0].tls_verify);
  EXPECT_EQ(c.apps[0].mark.line, 2);
  EXPECT_EQ(c.apps[0].mark.col, 5);
  // No sinks is allowed but worth a warning.
  EXPECT_THAT(joined(warnings(r)), HasSubstr("no sinks configured"));
}

// interface.md, "Group discovery and group names": watchlist entries may be
// {id, name, labels}, inline or in a YAML file; bad labels name their place.
TEST_F(Load, WatchlistEntriesCarryNamesAndLabels) {
  write("list.yaml", "- \"@TGS#_@TGS#BBBBBBBBBBBB\"\n- {id: \"@TGS#_@TGS#CCCCCCCCCCCC\", name: Lobby}\n");
  auto r = load(std::string(kApp).replace(std::string(kApp).find("    groups:"), std::string::npos,
                                          "    groups:\n"
                                          "      - {id: \"@TGS#_@TGS#AAAAAAAAAAAA\", name: \"VIP ${TIER}\", "
                                          "labels: {tier: \"${TIER}\", region: sg}}\n"
                                          "    group_files: [list.yaml]\n"),
                {{"TIER", "gold"}});
  ASSERT_TRUE(r.config) << joined(errors(r));
  const auto& a = r.config->apps[0];
  EXPECT_EQ(a.groups.size(), 3u);
  ASSERT_EQ(a.group_meta.size(), 2u);
  const auto& vip = *a.group_meta.at("@TGS#_@TGS#AAAAAAAAAAAA");
  EXPECT_EQ(vip.name, "VIP gold");
  EXPECT_EQ(vip.labels, (std::vector<std::pair<std::string, std::string>>{{"region", "sg"}, {"tier", "gold"}}));
  EXPECT_EQ(a.group_meta.at("@TGS#_@TGS#CCCCCCCCCCCC")->name, "Lobby");

  r = load(std::string(kApp).replace(std::string(kApp).find("    groups:"), std::string::npos,
                                     "    groups:\n"
                                     "      - {id: \"@TGS#_@TGS#AAAAAAAAAAAA\", labels: {app: x, tier: [1]}}\n"
                                     "      - {name: nameless}\n"));
  EXPECT_FALSE(r.config);
  EXPECT_THAT(joined(errors(r)), HasSubstr(err_at(8, 50) + "label name 'app' is taken"));
  EXPECT_THAT(joined(errors(r)), HasSubstr(err_at(8, 58) + "each label must be NAME: VALUE"));
  EXPECT_THAT(joined(errors(r)), HasSubstr(err_at(9, 9) + "missing required key 'id' in watchlist entry"));
}

TEST_F(Load, DiscoverHasDefaultsAndChecksItsKeys) {
  auto r = load(std::string(kApp) + "    discover: {}\n");
  ASSERT_TRUE(r.config) << joined(errors(r));
  ASSERT_TRUE(r.config->apps[0].discover);
  const auto& d = *r.config->apps[0].discover;
  EXPECT_EQ(d.every, std::chrono::hours(1));
  EXPECT_EQ(d.types, std::vector<std::string>{"Community"});
  EXPECT_TRUE(d.keeps("Community", "@TGS#_x", "any"));
  EXPECT_FALSE(d.keeps("Public", "@TGS#_x", "any"));

  r = load(std::string(kApp) +
           "    discover: {every: 2s, types: [Community, Lobby], include: [\"VIP*\"], exclude: [\"*test?\"]}\n");
  EXPECT_FALSE(r.config);
  EXPECT_THAT(joined(errors(r)), HasSubstr("'every' must be at least 5s"));
  EXPECT_THAT(joined(errors(r)), HasSubstr("unknown group type 'Lobby'"));

  DiscoverConfig d2;
  d2.include = {"VIP*"};
  d2.exclude = {"*test?"};
  EXPECT_TRUE(d2.keeps("Community", "@TGS#_1", "VIP lounge"));
  EXPECT_FALSE(d2.keeps("Community", "@TGS#_1", "VIP tests"));
  EXPECT_FALSE(d2.keeps("Community", "@TGS#_1", "Lobby"));
  EXPECT_TRUE(glob_match("a*b?c", "aXXbYc"));
  EXPECT_FALSE(glob_match("a*b?c", "aXXbc"));
}

// interface.md, "Proxies": the app's `proxy:` wins; else HTTPS_PROXY (or
// https_proxy) unless NO_PROXY (or no_proxy) matches the endpoint's host.
TEST_F(Load, ProxyFromTheAppOrTheEnvironment) {
  const std::string region_app =
      "apps:\n  - name: a\n    sdkappid: 1400000001\n    admin: administrator\n    secret_key: k\n"
      "    region: singapore\n    groups: [\"@TGS#_@TGS#AAAAAAAAAAAA\"]\n";
  auto proxy_of = [&](const std::string& yaml, std::map<std::string, std::string> env) {
    auto r = load(yaml, std::move(env));
    EXPECT_TRUE(r.config) << joined(errors(r));
    return r.config ? r.config->apps[0].proxy : std::string("?");
  };
  EXPECT_EQ(proxy_of(kApp, {}), "");
  EXPECT_EQ(proxy_of(kApp, {{"HTTPS_PROXY", "http://10.0.0.1:3128/"}}), "http://10.0.0.1:3128");
  EXPECT_EQ(proxy_of(kApp, {{"https_proxy", "proxy.corp:8080"}}), "http://proxy.corp:8080");
  EXPECT_EQ(proxy_of(kApp, {{"HTTPS_PROXY", "http://p:1"}, {"NO_PROXY", "example.com,127.0.0.1"}}), "");
  EXPECT_EQ(proxy_of(region_app, {{"HTTPS_PROXY", "http://p:1"}, {"no_proxy", ".qcloud.com"}}), "");
  EXPECT_EQ(proxy_of(region_app, {{"HTTPS_PROXY", "http://p:1"}, {"NO_PROXY", "im.qcloud.com:443"}}), "");
  EXPECT_EQ(proxy_of(region_app, {{"HTTPS_PROXY", "http://p:1"}, {"NO_PROXY", "other.qcloud.com"}}), "http://p:1");
  EXPECT_EQ(proxy_of(region_app, {{"HTTPS_PROXY", "http://p:1"}, {"NO_PROXY", "*"}}), "");
  EXPECT_EQ(proxy_of(std::string(kApp) + "    proxy: none\n", {{"HTTPS_PROXY", "http://p:1"}}), "");
  EXPECT_EQ(proxy_of(std::string(kApp) + "    proxy: http://[::1]:8888\n", {{"HTTPS_PROXY", "http://p:1"}}),
            "http://[::1]:8888");
  auto bad = load(std::string(kApp) + "    proxy: https://p:1\n");
  EXPECT_FALSE(bad.config);
  EXPECT_THAT(joined(errors(bad)), HasSubstr("only http://HOST:PORT proxies"));
  auto secret = load(kApp, {{"HTTPS_PROXY", "http://user:hunter2@p:1"}});
  EXPECT_FALSE(secret.config);
  EXPECT_THAT(joined(errors(secret)), Not(HasSubstr("hunter2")));
}

TEST_F(Load, AllKeysAreRead) {
  const auto r = load(std::string(kApp) +
                      "    ca_file: certs/ca.pem\n"
                      "    qps: 150.5\n"
                      "    usersig_ttl: 2h\n"
                      "    tls_verify: false\n"
                      "poll:\n"
                      "  interval: 1m\n"
                      "  timeout: 4s\n"
                      "  connections: 16\n"
                      "  retries: 0\n"
                      "  max_qps: 300\n"
                      "  recheck: 30m\n"
                      "  grace: 2s\n"
                      "admin:\n"
                      "  listen: 0.0.0.0:9108\n"
                      "log:\n"
                      "  level: debug\n"
                      "  format: json\n"
                      "state_dir: state\n"
                      "strict_permissions: true\n"
                      "sinks:\n"
                      "  - type: ndjson\n"
                      "    path: out.ndjson\n"
                      "    anything: goes\n");
  ASSERT_TRUE(r.config) << joined(errors(r));
  const Config& c = *r.config;
  EXPECT_EQ(c.apps[0].ca_file, dir_ + "/certs/ca.pem");
  EXPECT_DOUBLE_EQ(c.apps[0].qps, 150.5);
  EXPECT_EQ(c.apps[0].usersig_ttl, std::chrono::hours(2));
  EXPECT_FALSE(c.apps[0].tls_verify);
  EXPECT_THAT(joined(warnings(r)), HasSubstr("tls_verify: false"));
  EXPECT_EQ(c.poll.interval, std::chrono::minutes(1));
  EXPECT_EQ(c.poll.timeout, std::chrono::seconds(4));
  EXPECT_EQ(c.poll.connections, 16);
  EXPECT_EQ(c.poll.retries, 0);
  EXPECT_EQ(c.poll.max_qps, 300.0);
  EXPECT_EQ(c.poll.recheck, std::chrono::minutes(30));
  EXPECT_EQ(c.poll.grace, std::chrono::seconds(2));
  EXPECT_EQ(c.admin.listen, "0.0.0.0:9108");
  EXPECT_EQ(c.log.level, "debug");
  EXPECT_EQ(c.log.format, "json");
  EXPECT_EQ(c.state_dir, dir_ + "/state");
  EXPECT_TRUE(c.strict_permissions);
  ASSERT_EQ(c.sinks.size(), 1u);
  EXPECT_EQ(c.sinks[0].type, "ndjson");
  EXPECT_EQ(c.sinks[0].file, path_);
  EXPECT_EQ(c.sinks[0].mark.line, 28);
  EXPECT_EQ(c.sinks[0].node["anything"].Scalar(), "goes");
}

TEST_F(Load, FiveMistakesGiveFiveErrorsAtTheRightPlaces) {
  const auto r = load(
      "apps:\n"
      "  - name: a\n"
      "    sdkappid: 1400000001\n"
      "    admin: administrator\n"
      "    secret_key: k\n"
      "    endpoint: http://127.0.0.1:18443\n"
      "    qps: -3\n"
      "    groups: [\"@TGS#_@TGS#AAAAAAAAAAAA\"]\n"
      "poll:\n"
      "  interval: 4 minutes\n"
      "  retries: 20\n"
      "log:\n"
      "  colour: true\n"
      "sinks: [{type: ndjson}]\n");
  EXPECT_FALSE(r.config);
  const auto e = errors(r);
  ASSERT_EQ(e.size(), 5u) << joined(e);
  EXPECT_THAT(e[0], HasSubstr(err_at(6, 15) + "'endpoint' must start with https://"));
  EXPECT_THAT(e[1], HasSubstr(err_at(7, 10) + "'qps' must be a positive number"));
  EXPECT_THAT(e[2], HasSubstr(err_at(10, 13) + "'interval' is not a valid duration"));
  EXPECT_THAT(e[3], HasSubstr(err_at(11, 12) + "'retries' must be between 0 and 10"));
  EXPECT_THAT(e[4], HasSubstr(err_at(13, 3) + "unknown key 'colour' in log"));
}

TEST_F(Load, YamlSyntaxErrorHasPosition) {
  const auto r = load(
      "apps:\n"
      "  - name: a\n"
      "    sdkappid: [1, 2\n"
      "poll: {}\n");
  EXPECT_FALSE(r.config);
  const auto e = errors(r);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_THAT(e[0], ::testing::StartsWith(path_ + ":"));
  EXPECT_THAT(e[0], ::testing::ContainsRegex(":[0-9]+:[0-9]+: error: YAML syntax error: "));
}

TEST_F(Load, UnreadableConfigIsAnError) {
  const auto r = load_config(dir_ + "/nope.yaml", env_of({}));
  EXPECT_FALSE(r.config);
  ASSERT_EQ(errors(r).size(), 1u);
  EXPECT_THAT(errors(r)[0], HasSubstr("nope.yaml: error: cannot read config"));
}

TEST_F(Load, EmptyOrNonMappingConfig) {
  EXPECT_THAT(joined(errors(load(""))), HasSubstr("config is empty"));
  EXPECT_THAT(joined(errors(load("- a\n- b\n"))), HasSubstr(err_at(1, 1) + "the config must be a mapping"));
  EXPECT_THAT(joined(errors(load("apps: []\n"))), HasSubstr("no apps configured"));
  EXPECT_THAT(joined(errors(load("poll: {}\n"))), HasSubstr("no apps configured"));
}

TEST_F(Load, UnknownTopLevelAndAppKeys) {
  const auto r = load(std::string(kApp) +
                      "    sdkapid: 3\n"
                      "pol: {}\n");
  const auto e = errors(r);
  ASSERT_EQ(e.size(), 2u) << joined(e);
  EXPECT_EQ(e[0], err_at(8, 5) + "unknown key 'sdkapid' in apps[0] (did you mean 'sdkappid'?)");
  EXPECT_EQ(e[1], err_at(9, 1) + "unknown key 'pol' in the config (did you mean 'poll'?)");
}

TEST_F(Load, WrongTypes) {
  const auto r = load(
      "apps:\n"
      "  - name: [a]\n"
      "    sdkappid: abc\n"
      "    admin: {x: 1}\n"
      "    secret_key: k\n"
      "    endpoint: https://h\n"
      "    groups: [\"@TGS#_@TGS#AAAAAAAAAAAA\"]\n"
      "strict_permissions: sometimes\n"
      "poll: 5\n");
  const auto e = errors(r);
  ASSERT_EQ(e.size(), 5u) << joined(e);
  EXPECT_THAT(e[0], HasSubstr(err_at(2, 11) + "'name' must be a single value"));
  EXPECT_THAT(e[1], HasSubstr(err_at(3, 15) + "'sdkappid' must be a non-negative integer"));
  EXPECT_THAT(e[2], HasSubstr(err_at(4, 12) + "'admin' must be a single value"));
  EXPECT_THAT(e[3], HasSubstr(err_at(8, 21) + "'strict_permissions' must be true or false"));
  EXPECT_THAT(e[4], HasSubstr(err_at(9, 7) + "poll must be a mapping"));
}

TEST_F(Load, MissingRequiredAppKeys) {
  const auto r = load(
      "apps:\n"
      "  - endpoint: https://h\n"
      "    secret_key: k\n");
  const auto e = joined(errors(r));
  EXPECT_THAT(e, HasSubstr("missing required key 'name' in apps[0]"));
  EXPECT_THAT(e, HasSubstr("missing required key 'sdkappid' in apps[0]"));
  EXPECT_THAT(e, HasSubstr("missing required key 'admin' in apps[0]"));
  EXPECT_THAT(e, HasSubstr(at(2, 5)));
}

TEST_F(Load, DuplicateAppNames) {
  const auto r = load(std::string(kApp) +
                      "  - name: a\n"
                      "    sdkappid: 1400000002\n"
                      "    admin: administrator\n"
                      "    secret_key: k\n"
                      "    endpoint: https://127.0.0.1:18443\n");
  const auto e = errors(r);
  ASSERT_EQ(e.size(), 1u) << joined(e);
  EXPECT_EQ(e[0], err_at(8, 11) + "duplicate app name 'a' (first at " + path_ + ":2:11); names must be unique");
}

TEST_F(Load, SecretKeyAndFileBothOrNeither) {
  const std::string base =
      "apps:\n"
      "  - name: a\n"
      "    sdkappid: 1\n"
      "    admin: x\n"
      "    endpoint: https://h\n";
  auto both = load(base + "    secret_key: k\n    secret_key_file: f\n");
  ASSERT_EQ(errors(both).size(), 1u) << joined(errors(both));
  EXPECT_EQ(errors(both)[0], err_at(7, 22) + "use either 'secret_key' or 'secret_key_file', not both");
  auto neither = load(base);
  ASSERT_EQ(errors(neither).size(), 1u) << joined(errors(neither));
  EXPECT_EQ(errors(neither)[0], err_at(2, 5) + "the app needs 'secret_key' or 'secret_key_file'");
}

TEST_F(Load, MissingSecrets) {
  const std::string base =
      "apps:\n"
      "  - name: a\n"
      "    sdkappid: 1\n"
      "    admin: x\n"
      "    endpoint: https://h\n";
  auto unset = load(base + "    secret_key: ${TIM_KEY}\n");
  ASSERT_EQ(errors(unset).size(), 1u);
  EXPECT_THAT(errors(unset)[0], HasSubstr(err_at(6, 17) + "'secret_key': environment variable TIM_KEY is not set"));
  auto empty = load(base + "    secret_key: \"\"\n");
  ASSERT_EQ(errors(empty).size(), 1u);
  EXPECT_EQ(errors(empty)[0], err_at(6, 17) + "'secret_key' is empty");
  auto empty_env = load(base + "    secret_key: ${TIM_KEY}\n", {{"TIM_KEY", ""}});
  EXPECT_THAT(joined(errors(empty_env)), HasSubstr("'secret_key' is empty"));
  auto no_value = load(base + "    secret_key:\n");
  EXPECT_THAT(joined(errors(no_value)), HasSubstr(err_at(6, 5) + "'secret_key' has no value"));
}

TEST_F(Load, SecretKeyFileIsReadAndStrippedRelativeToTheConfig) {
  write("secrets/key", "  s3cr3t-from-file \n\n", 0600);
  const auto r = load(
      "apps:\n"
      "  - name: a\n"
      "    sdkappid: 1\n"
      "    admin: x\n"
      "    endpoint: https://h\n"
      "    secret_key_file: secrets/key\n"
      "    groups: [\"@TGS#_@TGS#AAAAAAAAAAAA\"]\n"
      "sinks: [{type: ndjson}]\n");
  ASSERT_TRUE(r.config) << joined(errors(r));
  EXPECT_EQ(r.config->apps[0].secret_key, "  s3cr3t-from-file");
  EXPECT_EQ(r.config->apps[0].secret_key_file, "secrets/key");
  EXPECT_THAT(warnings(r), IsEmpty()) << joined(warnings(r));
}

TEST_F(Load, UnreadableSecretKeyFileNamesThePath) {
  const auto r = load(
      "apps:\n"
      "  - name: a\n"
      "    sdkappid: 1\n"
      "    admin: x\n"
      "    endpoint: https://h\n"
      "    secret_key_file: missing/key\n");
  const auto e = errors(r);
  ASSERT_EQ(e.size(), 1u) << joined(e);
  EXPECT_EQ(e[0], err_at(6, 22) + "cannot read secret_key_file '" + dir_ + "/missing/key': No such file or directory");
}

TEST_F(Load, EmptySecretKeyFile) {
  write("key", "\n \n");
  const auto r = load("apps:\n  - {name: a, sdkappid: 1, admin: x, endpoint: \"https://h\", secret_key_file: key}\n");
  EXPECT_THAT(joined(errors(r)), HasSubstr("secret_key_file '" + dir_ + "/key' is empty"));
}

TEST_F(Load, ReadableSecretKeyFileWarnsOrFailsWhenStrict) {
  write("key", "s3cr3t\n", 0644);
  const std::string app =
      "apps:\n"
      "  - name: a\n"
      "    sdkappid: 1\n"
      "    admin: x\n"
      "    endpoint: https://h\n"
      "    secret_key_file: key\n"
      "    groups: [\"@TGS#_@TGS#AAAAAAAAAAAA\"]\n";
  auto lax = load(app);
  EXPECT_TRUE(lax.config) << joined(errors(lax));
  EXPECT_THAT(joined(warnings(lax)), HasSubstr(at(6, 22) + "warning: secret_key_file '" + dir_ +
                                               "/key' is readable by group or others (mode 0644)"));
  // strict_permissions written after the apps still applies to them.
  auto strict = load(app + "strict_permissions: true\n");
  EXPECT_FALSE(strict.config);
  ASSERT_EQ(errors(strict).size(), 1u) << joined(errors(strict));
  EXPECT_THAT(errors(strict)[0], HasSubstr(err_at(6, 22) + "secret_key_file '" + dir_ + "/key' is readable by group"));
  EXPECT_THAT(errors(strict)[0], HasSubstr("strict_permissions"));
  write("key", "s3cr3t\n", 0640);
  EXPECT_FALSE(load(app + "strict_permissions: true\n").config);
}

TEST_F(Load, EndpointMustBeHttps) {
  const std::string base =
      "apps:\n"
      "  - name: a\n"
      "    sdkappid: 1\n"
      "    admin: x\n"
      "    secret_key: k\n";
  EXPECT_THAT(joined(errors(load(base + "    endpoint: http://h:80\n"))),
              HasSubstr(err_at(6, 15) + "'endpoint' must start with https://, got 'http://h:80'"));
  EXPECT_THAT(joined(errors(load(base + "    endpoint: h.example.com\n"))), HasSubstr("must start with https://"));
  EXPECT_THAT(joined(errors(load(base + "    endpoint: https://\n"))), HasSubstr(err_at(6, 15) + "invalid 'endpoint'"));
  auto ok = load(base + "    endpoint: https://proxy.internal:8443/\n");
  ASSERT_TRUE(ok.config) << joined(errors(ok));
  EXPECT_EQ(ok.config->apps[0].endpoint, "https://proxy.internal:8443");
  EXPECT_FALSE(ok.config->apps[0].vendor);
}

TEST_F(Load, RegionChoosesTheVendorEndpoint) {
  const auto r = load(
      "apps:\n"
      "  - name: a\n"
      "    sdkappid: 1\n"
      "    admin: x\n"
      "    secret_key: k\n"
      "    region: singapore\n");
  ASSERT_TRUE(r.config) << joined(errors(r));
  EXPECT_EQ(r.config->apps[0].region, "singapore");
  EXPECT_THAT(r.config->apps[0].endpoint, HasSubstr("https://adminapisgp.im.qcloud.com"));
  EXPECT_TRUE(r.config->apps[0].vendor);
  EXPECT_THAT(joined(warnings(r)), HasSubstr("app 'a' watches no groups"));
}

TEST_F(Load, RegionAndEndpointRules) {
  const std::string base =
      "apps:\n"
      "  - name: a\n"
      "    sdkappid: 1\n"
      "    admin: x\n"
      "    secret_key: k\n";
  auto unknown = load(base + "    region: mars\n");
  ASSERT_EQ(errors(unknown).size(), 1u);
  EXPECT_THAT(errors(unknown)[0], HasSubstr(err_at(6, 13) + "unknown region 'mars' (one of china|singapore|"));
  auto both = load(base + "    region: tokyo\n    endpoint: https://h\n");
  ASSERT_EQ(errors(both).size(), 1u) << joined(errors(both));
  EXPECT_EQ(errors(both)[0], err_at(7, 15) + "use either 'region' or 'endpoint', not both");
  auto neither = load(base);
  ASSERT_EQ(errors(neither).size(), 1u);
  EXPECT_THAT(errors(neither)[0], HasSubstr(err_at(2, 5) + "the app needs 'region' ("));
}

TEST_F(Load, QpsRules) {
  const std::string base =
      "apps:\n"
      "  - name: a\n"
      "    sdkappid: 1\n"
      "    admin: x\n"
      "    secret_key: k\n";
  EXPECT_THAT(joined(errors(load(base + "    endpoint: https://h\n    qps: 0\n"))),
              HasSubstr(err_at(7, 10) + "'qps' must be a positive number"));
  EXPECT_THAT(joined(errors(load(base + "    endpoint: https://h\n    qps: fast\n"))),
              HasSubstr(err_at(7, 10) + "'qps' must be a number, got 'fast'"));
  auto high_local = load(base + "    endpoint: https://h\n    qps: 1000\n");
  ASSERT_TRUE(high_local.config) << joined(errors(high_local));
  EXPECT_DOUBLE_EQ(high_local.config->apps[0].qps, 1000);
  auto high_vendor = load(base + "    region: seoul\n    qps: 201\n");
  ASSERT_EQ(errors(high_vendor).size(), 1u);
  EXPECT_EQ(errors(high_vendor)[0], err_at(7, 10) + "'qps' 201 is above the vendor's cap of 200 requests/s per app");
  // A vendor host written as an endpoint is still the vendor.
  auto vendor_host = load(base + "    endpoint: https://adminapisgp.im.qcloud.com\n    qps: 300\n");
  EXPECT_THAT(joined(errors(vendor_host)), HasSubstr("above the vendor's cap"));
  EXPECT_TRUE(load(base + "    region: seoul\n    qps: 200\n").config);
}

TEST_F(Load, GroupIdRules) {
  const std::string long_id = "@TGS#_" + std::string(123, 'A');  // 129 bytes
  const std::string max_id = "@TGS#_" + std::string(122, 'A');   // 128 bytes
  const auto r2 = load(
      "apps:\n"
      "  - name: a\n"
      "    sdkappid: 1\n"
      "    admin: x\n"
      "    secret_key: k\n"
      "    endpoint: https://h\n"
      "    groups:\n"
      "      - \"\"\n"
      "      - \"" +
      long_id +
      "\"\n"
      "      - \"@TGS#_ with space\"\n"
      "      - \"@TGS#_tab\\there\"\n"
      "      - \"" +
      max_id +
      "\"\n"
      "      - \"12345\"\n");
  const auto e = errors(r2);
  ASSERT_EQ(e.size(), 4u) << joined(e);
  EXPECT_EQ(e[0], err_at(8, 9) + "group ID is empty");
  EXPECT_EQ(e[1], err_at(9, 9) + "group ID is 129 bytes long; the limit is 128");
  EXPECT_EQ(e[2], err_at(10, 9) + "group ID contains a space or a control character");
  EXPECT_EQ(e[3], err_at(11, 9) + "group ID contains a space or a control character");
  EXPECT_THAT(joined(warnings(r2)), HasSubstr(at(13, 9) + "warning: group ID '12345' does not start with @TGS#_"));
}

TEST_F(Load, InlineGroupsAreInterpolated) {
  const auto r = load(
      "apps:\n"
      "  - {name: a, sdkappid: 1, admin: x, secret_key: k, endpoint: \"https://h\",\n"
      "     groups: [\"@TGS#_${G}\", \"@TGS#_${MISSING}\"]}\n",
      {{"G", "FROMENV"}});
  const auto e = errors(r);
  ASSERT_EQ(e.size(), 1u) << joined(e);
  EXPECT_THAT(e[0], HasSubstr("MISSING"));
}

TEST_F(Load, PollSanity) {
  const std::string base = kApp;
  auto bad = load(base +
                  "poll:\n"
                  "  interval: 0s\n"
                  "  connections: 0\n"
                  "  retries: -1\n"
                  "  max_qps: 0\n"
                  "  timeout: 0s\n");
  const auto e = errors(bad);
  ASSERT_EQ(e.size(), 5u) << joined(e);
  EXPECT_EQ(e[0], err_at(9, 13) + "'interval' must be greater than 0");
  EXPECT_EQ(e[1], err_at(10, 16) + "'connections' must be between 1 and 1024, got 0");
  EXPECT_EQ(e[2], err_at(11, 12) + "'retries' must be between 0 and 10, got -1");
  EXPECT_EQ(e[3], err_at(12, 12) + "'max_qps' must be a positive number, got 0");
  EXPECT_EQ(e[4], err_at(13, 12) + "'timeout' must be greater than 0");
  EXPECT_THAT(joined(errors(load(base + "poll: {connections: 1025}\n"))), HasSubstr("between 1 and 1024"));
  EXPECT_THAT(joined(errors(load(base + "poll: {retries: 11}\n"))), HasSubstr("between 0 and 10"));

  auto short_timeout = load(base + "poll:\n  timeout: 3s\n");
  EXPECT_TRUE(short_timeout.config);
  EXPECT_THAT(joined(warnings(short_timeout)), HasSubstr(at(9, 12) + "warning: 'timeout' 3s is not above 3s"));
  auto ok_timeout = load(base + "poll:\n  timeout: 3500ms\n");
  EXPECT_THAT(joined(warnings(ok_timeout)), Not(HasSubstr("timeout")));
}

// cluster: defaults, ${VAR} in the name and endpoints, and every refusal
// naming the line.
TEST_F(Load, ClusterHasDefaultsAndChecksItsKeys) {
  const std::string base = kApp;
  auto r = load(base + "cluster:\n  etcd: [\"http://${ETCD}\", \"http://127.0.0.1:2381\"]\n  name: ${POD}\n",
                {{"ETCD", "10.0.0.1:2379"}, {"POD", "gw-0"}});
  ASSERT_TRUE(r.config) << joined(errors(r));
  ASSERT_TRUE(r.config->cluster);
  const auto& c = *r.config->cluster;
  EXPECT_EQ(c.etcd, (std::vector<std::string>{"http://10.0.0.1:2379", "http://127.0.0.1:2381"}));
  EXPECT_EQ(c.prefix, "/groupwatch");
  EXPECT_EQ(c.name, "gw-0");
  EXPECT_EQ(c.lease, std::chrono::seconds(10));
  EXPECT_THAT(format_summary(*r.config),
              HasSubstr("cluster: instance gw-0 under /groupwatch on etcd http://10.0.0.1:2379, http://127.0.0.1:2381, "
                        "lease 10s"));
  // Without a name: the host name.
  auto h = load(base + "cluster: {etcd: http://127.0.0.1:2379}\n");
  ASSERT_TRUE(h.config) << joined(errors(h));
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  EXPECT_EQ(h.config->cluster->name, host);
  EXPECT_FALSE(load(base).config->cluster);

  EXPECT_THAT(joined(errors(load(base + "cluster: {name: x}\n"))), HasSubstr("'cluster' needs 'etcd'"));
  EXPECT_THAT(joined(errors(load(base + "cluster: {etcd: [https://127.0.0.1:2379]}\n"))),
              HasSubstr("https etcd endpoints are not supported yet"));
  EXPECT_THAT(joined(errors(load(base + "cluster:\n  etcd: [http://127.0.0.1:2379/v3]\n"))),
              HasSubstr(err_at(9, 10) + "cluster.etcd: 'http://127.0.0.1:2379/v3' an etcd endpoint has no path"));
  EXPECT_THAT(joined(errors(load(base + "cluster: {etcd: [http://a:1], lease: 1s}\n"))),
              HasSubstr("'lease' must be at least 2s, got 1s"));
  EXPECT_THAT(joined(errors(load(base + "cluster: {etcd: [http://a:1], name: a/b}\n"))),
              HasSubstr("the instance 'name' must be 1 to 128 characters without '/'"));
  EXPECT_THAT(joined(errors(load(base + "cluster: {etcd: [http://a:1], prefix: gw/}\n"))),
              HasSubstr("'prefix' must start with '/' and not end with one, got 'gw/'"));
  EXPECT_THAT(joined(errors(load(base + "cluster: {etcd: [http://a:1], leese: 5s}\n"))), HasSubstr("leese"));
}

TEST_F(Load, LogAdminAndSinks) {
  const std::string base = kApp;
  EXPECT_THAT(joined(errors(load(base + "log: {level: loud}\n"))),
              HasSubstr("'level' must be one of debug|info|warn|error, got 'loud'"));
  EXPECT_THAT(joined(errors(load(base + "log: {format: xml}\n"))), HasSubstr("'format' must be one of logfmt|json"));
  EXPECT_THAT(joined(errors(load(base + "admin: {listen: localhost}\n"))), HasSubstr("'listen' must be HOST:PORT"));
  EXPECT_THAT(joined(errors(load(base + "admin: {listen: \"h:99999\"}\n"))), HasSubstr("'listen' must be HOST:PORT"));
  EXPECT_TRUE(load(base + "admin: {listen: \"[::1]:9108\"}\n").config);
  // The admin server's own parser decides: what it could not bind, check refuses.
  EXPECT_THAT(joined(errors(load(base + "admin: {listen: \":9108\"}\n"))), HasSubstr("has no host"));
  EXPECT_THAT(joined(errors(load(base + "admin: {listen: \"127.0.0.1:0\"}\n"))), HasSubstr("port 0"));
  auto sinks = load(base +
                    "sinks:\n"
                    "  - path: x\n"
                    "  - type: \"\"\n"
                    "  - just-a-string\n");
  const auto e = errors(sinks);
  ASSERT_EQ(e.size(), 3u) << joined(e);
  EXPECT_EQ(e[0], err_at(9, 5) + "missing required key 'type' in sink");
  EXPECT_EQ(e[1], err_at(10, 11) + "sink 'type' must not be empty");
  EXPECT_EQ(e[2], err_at(11, 5) + "sink must be a mapping");
  EXPECT_THAT(joined(errors(load(base + "sinks: {type: ndjson}\n"))), HasSubstr("'sinks' must be a list"));
}

TEST_F(Load, RawSinksAreKeptWhenTheConfigHasErrors) {
  const auto r = load(
      "apps: []\n"
      "sinks:\n"
      "  - type: sqlite\n"
      "    path: x.db\n");
  EXPECT_FALSE(r.config);
  ASSERT_EQ(r.sinks.size(), 1u);
  EXPECT_EQ(r.sinks[0].type, "sqlite");
  EXPECT_EQ(r.sinks[0].node["path"].Scalar(), "x.db");
  EXPECT_EQ(r.sinks[0].mark.line, 3);
}

TEST_F(Load, AllErrorsAreReportedAtOnce) {
  const auto r = load(
      "apps:\n"
      "  - name: a\n"
      "    sdkappid: 1\n"
      "    admin: x\n"
      "    region: nowhere\n"
      "  - name: a\n"
      "    sdkappid: 0\n"
      "    admin: x\n"
      "    secret_key: k\n"
      "    secret_key_file: f\n"
      "    endpoint: ftp://h\n"
      "poll: {interval: soon}\n"
      "log: {level: loud}\n");
  // app 0: no secret, unknown region; app 1: sdkappid 0, both secrets,
  // endpoint, duplicate name; poll; log.
  EXPECT_EQ(errors(r).size(), 8u) << joined(errors(r));
}

TEST_F(Load, SecretNeverAppearsInMessages) {
  const std::string secret = "Sup3rS3cretValue-4f2b";
  write("key", secret + "\n", 0644);
  const auto r = load(
      "apps:\n"
      "  - name: a\n"
      "    sdkappid: ${KEY}\n"
      "    admin: x\n"
      "    secret_key: ${KEY}\n"
      "    endpoint: ${KEY}\n"
      "    qps: ${KEY}\n"
      "    tls_verify: ${KEY}\n"
      "    usersig_ttl: ${KEY}\n"
      "  - name: b\n"
      "    sdkappid: 2\n"
      "    admin: x\n"
      "    secret_key:\n"
      "      - ${KEY}\n"
      "    endpoint: https://h\n"
      "  - name: c\n"
      "    sdkappid: 3\n"
      "    admin: x\n"
      "    secret_key_file: key\n"
      "    endpoint: https://h\n"
      "poll:\n"
      "  interval: ${KEY}\n"
      "log:\n"
      "  level: ${KEY}\n",
      {{"KEY", secret}});
  EXPECT_GE(errors(r).size(), 8u) << joined(errors(r));
  for (const auto& d : r.diagnostics.all()) {
    EXPECT_THAT(d.format(), Not(HasSubstr(secret)));
    EXPECT_THAT(d.format(), Not(HasSubstr("Sup3r")));
  }
}

TEST_F(Load, DiagnosticsAreInFileOrder) {
  const auto r = load(
      "log: {level: loud}\n"
      "apps:\n"
      "  - {name: a, sdkappid: 1, admin: x, secret_key: k, endpoint: \"http://h\"}\n"
      "poll: {retries: 99}\n");
  const auto e = errors(r);
  ASSERT_EQ(e.size(), 3u) << joined(e);
  EXPECT_THAT(e[0], HasSubstr(at(1, 14)));
  EXPECT_THAT(e[1], HasSubstr(path_ + ":3:"));
  EXPECT_THAT(e[2], HasSubstr(path_ + ":4:"));
}

// ---- summary ----------------------------------------------------------------

Config summary_config(std::size_t groups, double qps, std::chrono::milliseconds interval) {
  Config c;
  c.path = "/etc/groupwatch/groupwatch.yaml";
  c.poll.interval = interval;
  AppConfig a;
  a.name = "prod-sg";
  a.sdkappid = 1400000001;
  a.secret_key = "NeverPrintThisKey";
  a.endpoint = "https://adminapisgp.im.qcloud.com";
  a.region = "singapore";
  a.qps = qps;
  a.groups.assign(groups, "@TGS#_@TGS#AAAAAAAAAAAA");
  c.apps.push_back(a);
  SinkConfig s1, s2;
  s1.type = "sqlite";
  s2.type = "ndjson";
  c.sinks = {s1, s2};
  return c;
}

TEST(Summary, ShowsAppsLoadSinksAndAdmin) {
  Config c = summary_config(24000, 200, std::chrono::minutes(4));  // 24000 / 48000 = 50%
  c.admin.listen = "127.0.0.1:9108";
  const std::string s = format_summary(c);
  EXPECT_THAT(gw_test::missing_from(
                  s, {"prod-sg", "sdkappid 1400000001", "endpoint https://adminapisgp.im.qcloud.com", "qps 200",
                      "groups 24000", "cycle load 50.0%", "sinks: 2 (sqlite, ndjson)", "admin: listen 127.0.0.1:9108"}),
              IsEmpty())
      << s;
  EXPECT_THAT(s, Not(HasSubstr("warning")));
  EXPECT_THAT(s, Not(HasSubstr("NeverPrintThisKey")));
}

TEST(Summary, WarnsAbove90Percent) {
  const std::string s = format_summary(summary_config(2850, 100, std::chrono::seconds(30)));  // 95%
  EXPECT_THAT(s, HasSubstr("cycle load 95.0%"));
  EXPECT_THAT(s, HasSubstr("warning: app 'prod-sg' cycle load is 95.0% of capacity"));
  EXPECT_THAT(s, Not(HasSubstr("cannot all be polled")));
  EXPECT_THAT(s, HasSubstr("admin: off"));
}

TEST(Summary, ExplainsOverload) {
  const std::string s = format_summary(summary_config(9000, 200, std::chrono::seconds(30)));  // 150%
  EXPECT_THAT(s, HasSubstr("cycle load 150.0%"));
  EXPECT_THAT(s, HasSubstr("9000 groups cannot all be polled within 30s at 200 qps"));
  EXPECT_THAT(s, HasSubstr("at least 45s or 300 qps"));
}

TEST(Summary, NeverSuggestsMoreThanTheVendorsCap) {
  Config c = summary_config(60000, 200, std::chrono::minutes(4));  // 60000 / 48000 = 125%
  c.apps[0].vendor = true;
  const std::string s = format_summary(c);
  EXPECT_THAT(s, HasSubstr("60000 groups cannot all be polled within 4m at 200 qps"));
  EXPECT_THAT(s, HasSubstr("200 qps is the vendor's cap"));
  EXPECT_THAT(s, Not(HasSubstr("250 qps")));
}

TEST(Summary, EntriesWithOneSdkAppIdShareOneCap) {
  Config c = summary_config(3000, 100, std::chrono::seconds(60));
  c.apps.push_back(c.apps[0]);
  c.apps[1].name = "second";
  c.apps[1].qps = 150;
  const std::string s = format_summary(c);
  // One budget: the strictest qps, for the summed groups (6000 / (100 x 60) = 100%).
  EXPECT_THAT(s, HasSubstr("shared budget of prod-sg, second: sdkappid 1400000001"));
  EXPECT_THAT(s, HasSubstr("one cap of 100 qps for 6000 groups, cycle load 100.0%"));
  EXPECT_THAT(s, HasSubstr("capacity 100 qps"));
}

TEST(Summary, TinyLoadIsNotShownAsZero) {
  const std::string s = format_summary(summary_config(6, 200, std::chrono::minutes(4)));
  EXPECT_THAT(s, HasSubstr("groups 6, cycle load <0.1%"));
  EXPECT_THAT(s, HasSubstr("total: 1 app, 6 groups"));
}

TEST(Summary, GlobalMaxQpsLimitsTotalCapacity) {
  Config c = summary_config(6000, 200, std::chrono::seconds(60));
  c.apps.push_back(c.apps[0]);
  c.apps[1].name = "second";
  c.poll.max_qps = 100;  // 12000 groups / (100 x 60) = 200%
  const std::string s = format_summary(c);
  EXPECT_THAT(s, HasSubstr("total: 2 apps, 12000 groups, capacity 100 qps, cycle load 200.0%"));
  EXPECT_THAT(s, HasSubstr("cannot all be polled"));
}

}  // namespace
}  // namespace groupwatch::config
