#pragma once
// ThreadPoolMixIn: options().threads workers, started with the server, fed
// from a queue (moodycamel). A connection holds its worker for its whole
// life; datagrams are short, so one awake worker takes all that are queued,
// and a sleeping one is woken only when none is awake, once the serving
// thread has queued what was ready (a context switch per batch, not per
// datagram). options().max_queued counts requests waiting for a worker, not
// those being served: at most threads + max_queued are in the pool. When it
// is full, options().overload decides: `block` stops accepting until a
// worker is free (the kernel backlog holds the rest); `refuse` closes the new
// request at once after refuse_request(), counted in stats().refused. Queued
// requests are served, never dropped, at close: server_close() lets the
// workers finish the queue within close_timeout, then cuts the connections
// still open and joins the workers.

#include <stdexcept>

#include "switchboard/detail/worker_policy.hpp"

namespace switchboard {
namespace detail {

struct PoolShape {
  static std::size_t places(const ServerOptions& o) {
    if (o.threads == 0) throw std::invalid_argument("a pool needs at least one thread");
    if (o.max_queued == 0) throw std::invalid_argument("max_queued must be at least 1");
    return o.threads + o.max_queued;
  }
  static Workers::Config config(const ServerOptions& o, bool datagram) {
    return {o.threads, o.threads, std::chrono::milliseconds::max(),
            datagram ? Workers::Wake::at_batch : Workers::Wake::each};
  }
};

}  // namespace detail

template <class Server>
class ThreadPoolMixIn : public detail::WorkerPolicy<Server, detail::PoolShape> {
 public:
  using detail::WorkerPolicy<Server, detail::PoolShape>::WorkerPolicy;
  ~ThreadPoolMixIn() override { this->stop(); }
  /// Worker threads. Thread safe.
  std::size_t workers() const { return this->workers_.threads(); }
};

using ThreadPoolTCPServer = ThreadPoolMixIn<TCPServer>;
using ThreadPoolUDPServer = ThreadPoolMixIn<UDPServer>;
using ThreadPoolUnixStreamServer = ThreadPoolMixIn<UnixStreamServer>;
using ThreadPoolUnixDatagramServer = ThreadPoolMixIn<UnixDatagramServer>;

}  // namespace switchboard
