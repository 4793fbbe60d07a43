// deploy/docker: the runtime image's library list matches the built binaries, and the
// compose project hangs together (services, mounts, ports, scrape targets).
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "deploy/support.hpp"

namespace groupwatch::deploy_test {
namespace {

namespace fs = std::filesystem;

const fs::path kDocker = deploy_dir() / "docker";
const fs::path kScript = fs::path(GW_SOURCE_DIR) / "scripts" / "check-docker-libs";

std::string check_libs(const fs::path& dockerfile) {
  return shell_quote(kScript.string()) + " --dockerfile " + shell_quote(dockerfile.string()) + " " +
         shell_quote(GW_BIN) + " " + shell_quote(GW_EMULATOR_BIN);
}

TEST(DockerImage, RuntimeStageInstallsExactlyTheNeededLibraries) {
  const auto r = run(check_libs(kDocker / "Dockerfile"));
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("libssl3"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("libboost"), std::string::npos) << "Asio/Beast are header-only:\n" << r.out;
}

// The checker must notice both directions of drift, or the test above proves nothing.
TEST(DockerImage, CheckerReportsAMissingAndAnExtraPackage) {
  TempDir dir;
  std::string text = read_file(kDocker / "Dockerfile");
  const std::string ssl = "      libssl3 \\\n";
  const auto pos = text.find(ssl);
  ASSERT_NE(pos, std::string::npos) << "the runtime stage lists one package a line";
  text.replace(pos, ssl.size(), "      libcurl4 \\\n");
  const auto edited = dir.path() / "Dockerfile";
  write_file(edited, text);
  const auto r = run(check_libs(edited));
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("MISSING: libssl3"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("EXTRA: libcurl4"), std::string::npos) << r.out;
}

TEST(DockerImage, BuildsInStagesAndRunsTheDaemonUnprivileged) {
  const auto text = read_file(kDocker / "Dockerfile");
  EXPECT_NE(text.find("FROM debian:12 AS build"), std::string::npos);
  const auto runtime = text.rfind("\nFROM ");
  ASSERT_NE(runtime, std::string::npos);
  const auto stage = text.substr(runtime);
  EXPECT_EQ(stage.rfind("\nFROM debian:12-slim\n", 0), 0u) << "runtime stage must be debian:12-slim";
  EXPECT_NE(stage.find("\nUSER groupwatch"), std::string::npos);
  EXPECT_NE(stage.find("VOLUME [\"/var/lib/groupwatch\"]"), std::string::npos);
  EXPECT_NE(stage.find("EXPOSE 9108"), std::string::npos);
  EXPECT_NE(stage.find("HEALTHCHECK"), std::string::npos);
  EXPECT_NE(stage.find("GET /healthz"), std::string::npos);
  EXPECT_NE(stage.find(R"(ENTRYPOINT ["/usr/bin/groupwatch", "run", "--config", "/etc/groupwatch/groupwatch.yaml"])"),
            std::string::npos);
  // Everything the runtime stage COPYs from the context exists.
  for (const char* path : {"config/groupwatch.yaml", "config/watchlists"}) {
    EXPECT_TRUE(fs::exists(fs::path(GW_SOURCE_DIR) / path)) << path;
    EXPECT_NE(stage.find(std::string("COPY ") + path), std::string::npos) << path;
  }
}

std::uint16_t port_of(const std::string& listen) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) throw std::invalid_argument("no port in " + listen);
  return static_cast<std::uint16_t>(std::stoi(listen.substr(colon + 1)));
}

TEST(DockerCompose, HasTheFourServicesWithTheirFiles) {
  const auto compose = YAML::LoadFile((kDocker / "compose.yaml").string());
  const auto services = compose["services"];
  ASSERT_TRUE(services.IsMap());
  for (const char* name : {"emulator", "groupwatch", "prometheus", "grafana"}) {
    EXPECT_TRUE(services[name].IsMap()) << "service " << name;
  }
  // Every bind mount's source exists next to the compose file.
  for (const auto& kv : services) {
    for (const auto& v : kv.second["volumes"]) {
      const auto spec = v.as<std::string>();
      if (spec.rfind("./", 0) != 0 && spec.rfind("../", 0) != 0) continue;  // named volume
      const auto source = spec.substr(0, spec.find(':'));
      EXPECT_TRUE(fs::exists(kDocker / source)) << kv.first.as<std::string>() << ": " << spec;
    }
  }
  // groupwatch gets deploy/docker/groupwatch.yaml as its config, and the emulator's files.
  const auto gw = services["groupwatch"];
  std::vector<std::string> mounts;
  for (const auto& v : gw["volumes"]) mounts.push_back(v.as<std::string>());
  EXPECT_NE(std::find(mounts.begin(), mounts.end(), "./groupwatch.yaml:/etc/groupwatch/groupwatch.yaml:ro"),
            mounts.end());
  EXPECT_NE(std::find(mounts.begin(), mounts.end(), "emulator-shared:/emulator:ro"), mounts.end());
  EXPECT_EQ(gw["depends_on"]["emulator"]["condition"].as<std::string>(), "service_healthy");
  // The emulator writes the CA and group list where groupwatch's config reads them.
  std::string emulator_args;
  for (const auto& a : services["emulator"]["entrypoint"]) emulator_args += a.as<std::string>() + " ";
  EXPECT_NE(emulator_args.find("--write-ca=/var/lib/groupwatch/ca.pem"), std::string::npos) << emulator_args;
  EXPECT_NE(emulator_args.find("--write-groups=/var/lib/groupwatch/groups.txt"), std::string::npos) << emulator_args;
  const auto config = YAML::LoadFile((kDocker / "groupwatch.yaml").string());
  EXPECT_EQ(config["apps"][0]["ca_file"].as<std::string>(), "/emulator/ca.pem");
  EXPECT_EQ(config["apps"][0]["group_files"][0].as<std::string>(), "/emulator/groups.txt");
  EXPECT_NE(emulator_args.find("--listen=0.0.0.0:" +
                               std::to_string(port_of(config["apps"][0]["endpoint"].as<std::string>()))),
            std::string::npos)
      << "the config's endpoint port must be the emulator's";
}

// Prometheus scrapes both of groupwatch's endpoints, at the ports its config listens on.
TEST(DockerCompose, PrometheusScrapesTheAdminAndTheSinkPorts) {
  const auto config = YAML::LoadFile((kDocker / "groupwatch.yaml").string());
  const auto admin_port = port_of(config["admin"]["listen"].as<std::string>());
  std::optional<std::uint16_t> sink_port;
  for (const auto& s : config["sinks"]) {
    if (s["type"].as<std::string>() == "prometheus") sink_port = port_of(s["listen"].as<std::string>());
  }
  ASSERT_TRUE(sink_port) << "groupwatch.yaml needs a prometheus sink for the per-group panels";
  EXPECT_EQ(config["admin"]["listen"].as<std::string>().rfind("0.0.0.0:", 0), 0u) << "reachable from prometheus";

  std::vector<std::string> targets;
  const auto prom = YAML::LoadFile((kDocker / "prometheus.yml").string());
  for (const auto& job : prom["scrape_configs"]) {
    for (const auto& sc : job["static_configs"]) {
      for (const auto& t : sc["targets"]) targets.push_back(t.as<std::string>());
    }
  }
  // groupwatch shares the emulator's network namespace, so its ports are the emulator's.
  const auto compose = YAML::LoadFile((kDocker / "compose.yaml").string());
  EXPECT_EQ(compose["services"]["groupwatch"]["network_mode"].as<std::string>(), "service:emulator");
  for (const auto port : {admin_port, *sink_port}) {
    const auto target = "emulator:" + std::to_string(port);
    EXPECT_NE(std::find(targets.begin(), targets.end(), target), targets.end()) << target;
  }
}

// The compose config is an example config like those in config/: the daemon must accept it.
TEST(DockerCompose, GroupwatchConfigPassesCheck) {
  TempDir dir;
  auto text = read_file(kDocker / "groupwatch.yaml");
  for (auto pos = text.find("/emulator/"); pos != std::string::npos; pos = text.find("/emulator/", pos)) {
    text.replace(pos, 10, dir.path().string() + "/");
  }
  for (auto pos = text.find("/var/lib/groupwatch"); pos != std::string::npos;
       pos = text.find("/var/lib/groupwatch", pos)) {
    text.replace(pos, 19, dir.path().string());
  }
  write_file(dir.path() / "groupwatch.yaml", text);
  write_file(dir.path() / "groups.txt", "@TGS#_@TGS#cQVLVHIM62CJ\n");
  // A real certificate, written by the emulator as in compose (it writes it before listening).
  const auto ca = dir.path() / "ca.pem";
  const auto emu = write_emulator_ca(ca);
  ASSERT_TRUE(fs::exists(ca)) << emu.out;
  const auto r = run("env -u TIM_SECRET_KEY " + shell_quote(GW_BIN) + " check --config " +
                     shell_quote((dir.path() / "groupwatch.yaml").string()));
  EXPECT_EQ(r.status, 0) << r.out;
}

}  // namespace
}  // namespace groupwatch::deploy_test
