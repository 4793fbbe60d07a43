// deploy/kubernetes and deploy/docker/compose-cluster.yaml: the config each
// pod or instance runs passes `groupwatch check` with the name the platform
// gives it, and the StatefulSet hangs together with that config (probes on
// the admin port, the mounts where the config looks, the pod's name).
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <string>

#include "deploy/support.hpp"

namespace groupwatch::deploy_test {
namespace {

namespace fs = std::filesystem;

const fs::path kKube = deploy_dir() / "kubernetes";

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  for (auto pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos + to.size()))
    text.replace(pos, from.size(), to);
}

YAML::Node container(const YAML::Node& sts) {
  return sts["spec"]["template"]["spec"]["containers"][0];
}

TEST(Kubernetes, TheConfigMapsConfigPassesCheckAsEachPod) {
  TempDir dir;
  const YAML::Node cm = YAML::LoadFile((kKube / "configmap.yaml").string());
  ASSERT_EQ(cm["kind"].as<std::string>(), "ConfigMap");
  // Mounted as files under /etc/groupwatch: every key is one file.
  for (const auto& kv : cm["data"]) {
    std::string text = kv.second.as<std::string>();
    replace_all(text, "/run/secrets/groupwatch", dir.path().string());
    replace_all(text, "/var/lib/groupwatch", dir.path().string());
    write_file(dir.path() / kv.first.as<std::string>(), text);
  }
  write_file(dir.path() / "secret_key", "a-secret-key-from-the-secret-0123456789\n");
  fs::permissions(dir.path() / "secret_key", fs::perms::owner_read | fs::perms::owner_write);
  const auto config = shell_quote((dir.path() / "groupwatch.yaml").string());
  const auto r = run("POD_NAME=groupwatch-1 " + shell_quote(GW_BIN) + " check --config " + config);
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("cluster: instance groupwatch-1 under /groupwatch"), std::string::npos) << r.out;
  // Without the downward API's variable the config says which one is missing.
  const auto unset = run("env -u POD_NAME " + shell_quote(GW_BIN) + " check --config " + config);
  EXPECT_EQ(unset.status, 2);
  EXPECT_NE(unset.out.find("POD_NAME"), std::string::npos) << unset.out;
}

TEST(Kubernetes, TheStatefulSetRunsSeveralNamedPodsWithProbesOnTheAdminPort) {
  const YAML::Node sts = YAML::LoadFile((kKube / "statefulset.yaml").string());
  const YAML::Node cm = YAML::LoadFile((kKube / "configmap.yaml").string());
  ASSERT_EQ(sts["kind"].as<std::string>(), "StatefulSet");
  EXPECT_GE(sts["spec"]["replicas"].as<int>(), 2);
  const YAML::Node c = container(sts);
  // cluster.name: ${POD_NAME}, from the pod's own name.
  bool pod_name = false;
  for (const auto& e : c["env"])
    pod_name = pod_name || (e["name"].as<std::string>() == "POD_NAME" &&
                            e["valueFrom"]["fieldRef"]["fieldPath"].as<std::string>() == "metadata.name");
  EXPECT_TRUE(pod_name);
  const YAML::Node config = YAML::Load(cm["data"]["groupwatch.yaml"].as<std::string>());
  EXPECT_EQ(config["cluster"]["name"].as<std::string>(), "${POD_NAME}");
  // The probes reach the admin server where the config makes it listen.
  const std::string listen = config["admin"]["listen"].as<std::string>();
  const std::string port = listen.substr(listen.rfind(':') + 1);
  EXPECT_EQ(c["ports"][0]["containerPort"].as<std::string>(), port);
  const std::string port_name = c["ports"][0]["name"].as<std::string>();
  EXPECT_EQ(c["livenessProbe"]["httpGet"]["path"].as<std::string>(), "/healthz");
  EXPECT_EQ(c["readinessProbe"]["httpGet"]["path"].as<std::string>(), "/readyz");
  EXPECT_EQ(c["livenessProbe"]["httpGet"]["port"].as<std::string>(), port_name);
  EXPECT_EQ(c["readinessProbe"]["httpGet"]["port"].as<std::string>(), port_name);
  // The config comes from the ConfigMap, the key from the Secret, mounted
  // where the config names them.
  std::map<std::string, std::string> mounts;
  for (const auto& m : c["volumeMounts"]) mounts[m["name"].as<std::string>()] = m["mountPath"].as<std::string>();
  for (const auto& v : sts["spec"]["template"]["spec"]["volumes"]) {
    const auto name = v["name"].as<std::string>();
    if (v["configMap"]) {
      EXPECT_EQ(v["configMap"]["name"].as<std::string>(), cm["metadata"]["name"].as<std::string>());
      EXPECT_EQ(mounts[name], "/etc/groupwatch");
    }
    if (v["secret"]) {
      const auto key_file = config["apps"][0]["secret_key_file"].as<std::string>();
      EXPECT_EQ(key_file.rfind(mounts[name] + "/", 0), 0u) << key_file;
    }
  }
  EXPECT_EQ(mounts["state"], config["state_dir"].as<std::string>());
}

TEST(DockerComposeCluster, EachInstancesConfigPassesCheck) {
  TempDir dir;
  std::string text = read_file(deploy_dir() / "docker" / "groupwatch-cluster.yaml");
  replace_all(text, "/emulator/", dir.path().string() + "/");
  replace_all(text, "/var/lib/groupwatch", dir.path().string());
  write_file(dir.path() / "groupwatch.yaml", text);
  write_file(dir.path() / "groups.txt", "@TGS#_@TGS#cQVLVHIM62CJ\n");
  const auto ca = dir.path() / "ca.pem";
  const auto emu = write_emulator_ca(ca);
  ASSERT_TRUE(fs::exists(ca)) << emu.out;
  const auto compose = YAML::LoadFile((deploy_dir() / "docker" / "compose-cluster.yaml").string());
  int instances = 0;
  for (const auto& s : compose["services"]) {
    const auto env = s.second["environment"];
    if (!env || !env["GW_CLUSTER_NAME"]) continue;
    ++instances;
    const auto r = run("GW_CLUSTER_NAME=" + env["GW_CLUSTER_NAME"].as<std::string>() +
                       " GW_ADMIN_LISTEN=" + env["GW_ADMIN_LISTEN"].as<std::string>() + " " + shell_quote(GW_BIN) +
                       " check --config " + shell_quote((dir.path() / "groupwatch.yaml").string()));
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("cluster: instance " + env["GW_CLUSTER_NAME"].as<std::string>()), std::string::npos) << r.out;
  }
  EXPECT_EQ(instances, 3);
}

}  // namespace
}  // namespace groupwatch::deploy_test
