#pragma once
// co_spawn with a completion handler that logs an escaping exception: no task
// is ever detached silently.
#include <exception>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "groupwatch/util/log.hpp"

namespace groupwatch {

template <typename Factory>
void spawn_logged(boost::asio::io_context& io, Factory&& make, std::string what) {
  boost::asio::co_spawn(io, std::forward<Factory>(make)(),
                        [what = std::move(what)](std::exception_ptr e) { log::task_ended(e, what); });
}

}  // namespace groupwatch
