#include "app/hooks.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include <boost/asio/steady_timer.hpp>

#include "groupwatch/util/events.hpp"
#include "groupwatch/util/log.hpp"

namespace groupwatch::app {

namespace asio = boost::asio;

void sd_notify(const char* state) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (!path || !*path) return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::size_t len = std::strlen(path);
  if (len >= sizeof(addr.sun_path)) return;
  std::memcpy(addr.sun_path, path, len);
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  ::sendto(fd, state, std::strlen(state), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr),
           static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len));
  ::close(fd);
}

struct RunHooks::Impl {
  asio::io_context& io;
  Engine& engine;
  sink::Fanout& fanout;
  asio::steady_timer watchdog;
  std::chrono::microseconds watchdog_every{0};
  bool closed = false;

  Impl(asio::io_context& i, Engine& e, sink::Fanout& f) : io(i), engine(e), fanout(f), watchdog(i) {}

  // WATCHDOG=1 is sent from the io_context itself: a stuck loop stops
  // sending and systemd restarts the service.
  void pet() {
    if (closed || watchdog_every.count() == 0) return;
    sd_notify("WATCHDOG=1");
    watchdog.expires_after(watchdog_every / 2);
    watchdog.async_wait([this](boost::system::error_code ec) {
      if (!ec) pet();
    });
  }
};

RunHooks::RunHooks(asio::io_context& io, Engine& engine, const config::Config&, sink::Fanout& fanout)
    : impl_(std::make_unique<Impl>(io, engine, fanout)) {
  if (const char* usec = std::getenv("WATCHDOG_USEC")) {
    try {
      impl_->watchdog_every = std::chrono::microseconds(std::stoll(usec));
    } catch (const std::exception&) {
    }
  }
}

RunHooks::~RunHooks() = default;

void RunHooks::ready() {
  sd_notify("READY=1");
  impl_->pet();
}

void RunHooks::reloaded(const config::Config&) { sd_notify("READY=1"); }

void RunHooks::stopping() { sd_notify("STOPPING=1"); }

void RunHooks::close() {
  impl_->closed = true;
  impl_->watchdog.cancel();
}

}  // namespace groupwatch::app
