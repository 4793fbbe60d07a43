#include "app/preflight.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

namespace groupwatch::app {

namespace fs = std::filesystem;

std::string ca_file_problem(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return fmt::format("cannot read ca_file '{}': {}", path, std::strerror(errno));
  std::fclose(f);
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) return "cannot create a TLS context";
  ERR_clear_error();
  const int ok = SSL_CTX_load_verify_locations(ctx, path.c_str(), nullptr);
  const unsigned long err = ERR_peek_last_error();
  ERR_clear_error();
  SSL_CTX_free(ctx);
  if (ok == 1) return {};
  const char* why = err != 0 ? ERR_reason_error_string(err) : nullptr;
  return fmt::format("ca_file '{}' holds no usable PEM certificate ({})", path, why ? why : "unknown reason");
}

namespace {

// `run` creates state_dir (and its spool) when missing: the nearest existing
// parent must then be a writable directory.
std::string state_dir_problem(const std::string& dir) {
  std::error_code ec;
  fs::path p = fs::absolute(dir, ec);
  if (ec) return fmt::format("state_dir '{}': {}", dir, ec.message());
  fs::path probe = p;
  while (!fs::exists(probe, ec) && probe.has_parent_path() && probe != probe.parent_path()) probe = probe.parent_path();
  if (!fs::is_directory(probe, ec)) return fmt::format("state_dir '{}': '{}' is not a directory", dir, probe.string());
  if (::access(probe.c_str(), W_OK | X_OK) != 0) {
    return fmt::format("state_dir '{}' is unusable: '{}' is not writable: {}", dir, probe.string(),
                       std::strerror(errno));
  }
  return {};
}

}  // namespace

std::vector<std::string> preflight(const config::Config& cfg, const std::vector<delivery::ParsedSink>& sinks) {
  std::vector<std::string> out;
  auto at = [&](const config::Mark& m) {
    return m.line > 0 ? fmt::format("{}:{}:{}", cfg.path, m.line, m.col > 0 ? m.col : 1) : cfg.path;
  };
  for (const auto& a : cfg.apps) {
    if (a.ca_file.empty()) continue;
    if (auto why = ca_file_problem(a.ca_file); !why.empty())
      out.push_back(fmt::format("{}: error: app '{}': {}", at(a.mark), a.name, why));
  }
  if (auto why = state_dir_problem(cfg.state_dir); !why.empty())
    out.push_back(fmt::format("{}: error: {}", cfg.path, why));
  for (const auto& s : sinks) {
    try {
      s.spec->preflight(delivery::SinkContext{cfg.state_dir, s.name});
    } catch (const std::exception& e) {
      out.push_back(fmt::format("{}: error: sink {}: {}", cfg.path, s.name, e.what()));
    }
  }
  return out;
}

}  // namespace groupwatch::app
