#pragma once
// Posting through a pool from a test: many requests at once, answered in
// the order they were made.
#include <cstddef>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "groupwatch/http/pool.hpp"

namespace gw_test {

/// Runs `n` posts of `body` to `target` at once (all spawned before any
/// runs) and drives `io` until all are answered; the pool's idle sweeper
/// may keep the context busy, so run() alone would not return.
inline std::vector<groupwatch::http::Response> post_all(boost::asio::io_context& io, groupwatch::http::Pool& pool,
                                                        int n, const std::string& target, const std::string& body) {
  using groupwatch::http::Response;
  std::vector<std::optional<Response>> out(static_cast<std::size_t>(n));
  int done = 0;
  for (int i = 0; i < n; ++i) {
    boost::asio::co_spawn(io, pool.post(target, body), [&, i](std::exception_ptr e, Response r) {
      if (e) std::rethrow_exception(e);
      out[static_cast<std::size_t>(i)] = std::move(r);
      ++done;
    });
  }
  io.restart();
  while (done < n) io.run_one();
  std::vector<Response> result;
  for (auto& r : out) result.push_back(std::move(*r));
  return result;
}

}  // namespace gw_test
