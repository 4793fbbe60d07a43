// groupwatch-emulator's command line: parse, start the server, run until
// SIGTERM/SIGINT, print the counters.
#include "groupwatch/emulator/cli.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>

#include "groupwatch/emulator/config.hpp"
#include "groupwatch/emulator/server.hpp"
#include "groupwatch/util/log.hpp"
#include "groupwatch/util/text.hpp"

namespace groupwatch::emulator {

namespace {
bool write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  return static_cast<bool>(out);
}
}  // namespace

int main(int argc, char** argv) {
  std::string error;
  const auto cl =
      parse_command_line(std::span<const char* const>(argv + 1, static_cast<std::size_t>(argc - 1)), &error);
  if (!cl) {
    std::cerr << "groupwatch-emulator: " << error << "\n";
    return 2;
  }
  if (cl->help) {
    std::cout << usage();
    return 0;
  }
  if (cl->version) {
    std::cout << "groupwatch-emulator " << GW_VERSION << "\n";
    return 0;
  }
  log::configure(log::Level::info, log::Format::logfmt);

  boost::asio::io_context ioc;
  std::optional<Server> server;
  std::uint16_t port = 0;
  try {
    server.emplace(ioc, cl->server);
    if (!cl->write_ca.empty()) {
      if (!cl->server.tls) {
        std::cerr << "groupwatch-emulator: --write-ca needs TLS (drop --plain)\n";
        return 2;
      }
      if (!write_file(cl->write_ca, server->ca_pem())) {
        std::cerr << "groupwatch-emulator: cannot write " << cl->write_ca << "\n";
        return 2;
      }
    }
    if (!cl->write_groups.empty()) {
      std::string text;
      for (const auto& g : cl->server.groups) text += g.id + "\n";
      if (!write_file(cl->write_groups, text)) {
        std::cerr << "groupwatch-emulator: cannot write " << cl->write_groups << "\n";
        return 2;
      }
    }
    port = server->start();
  } catch (const std::system_error& e) {
    std::cerr << "groupwatch-emulator: cannot listen on " << cl->server.address << ":" << cl->server.port << ": "
              << e.code().message() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "groupwatch-emulator: " << e.what() << "\n";
    return 2;
  }
  std::cout << "listening on " << ListenAddress{cl->server.address, port}.text() << std::endl;

  boost::asio::signal_set stop_signals(ioc, SIGINT, SIGTERM);
  boost::asio::signal_set usr1(ioc, SIGUSR1);
  std::function<void()> wait_usr1 = [&] {
    usr1.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      std::cerr << to_json(server->stats()) << std::endl;
      wait_usr1();
    });
  };
  wait_usr1();
  stop_signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    server->stop();
    boost::system::error_code ignored;
    usr1.cancel(ignored);
  });
  ioc.run();
  std::cout << to_json(server->stats()) << std::endl;
  return 0;
}

}  // namespace groupwatch::emulator
