#pragma once
// Integration tests: the real emulator (in-process) and the real groupwatch
// binary as a child process, through the shared harness (tests/support/);
// here only the config they share.
#include <sstream>
#include <string>

#include "support/emulator.hpp"
#include "support/harness.hpp"

namespace gwtest {

using namespace gw_test;

/// A config for one app against the emulator, with an ndjson sink to `ndjson`.
inline std::string app_config(const Emulator& emu, const TempDir& dir, const std::string& groups_file, double qps,
                              const std::string& interval, const std::string& extra_poll = "",
                              const std::string& extra_app = "") {
  std::string ca = dir.file("ca.pem");
  emu.write_ca(ca);
  std::ostringstream y;
  y << "apps:\n"
    << "  - name: test\n"
    << "    sdkappid: " << kAppId << "\n"
    << "    admin: administrator\n"
    << "    secret_key: " << kKey << "\n"
    << "    endpoint: " << emu.endpoint() << "\n"
    << "    ca_file: " << ca << "\n"
    << "    qps: " << qps << "\n"
    << "    group_files: [" << groups_file << "]\n"
    << extra_app << "poll:\n"
    << "  interval: " << interval << "\n"
    << "  timeout: 4s\n"
    << extra_poll << "state_dir: " << dir.file("state") << "\n"
    << "sinks:\n"
    << "  - type: ndjson\n"
    << "    path: " << dir.file("out.ndjson") << "\n"
    << "    flush_interval: 100ms\n";
  return y.str();
}

}  // namespace gwtest
