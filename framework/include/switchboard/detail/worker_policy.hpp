#pragma once
// Internal: what the pool and threading share. Both hand each request to the
// one worker engine (detail::Workers), holding a place of their admission
// limit until it ends; they differ only in the engine's shape, which each
// policy's header gives (`Shape`):
//   static std::size_t places(const ServerOptions&);  // the limit; 0: none
//   static Workers::Config config(const ServerOptions&, bool datagram);

#include <type_traits>

#include "switchboard/detail/limit.hpp"
#include "switchboard/detail/workers.hpp"
#include "switchboard/server.hpp"

namespace switchboard::detail {

template <class Server, class Shape>
class WorkerPolicy : public Server {
  static constexpr bool kDatagram = std::is_base_of_v<DatagramServer, Server>;

 public:
  using Server::Server;

  /// With block_on_close (the default) waits for the requests in flight until
  /// the close deadline, cuts what remains and joins the threads; without,
  /// returns at once and the destructor does that. Not from a handler.
  void server_close() override {
    const bool wait = this->options().block_on_close;
    if constexpr (kDatagram) {
      if (wait) close_workers();  // replies still being sent need the socket
      Server::server_close();
    } else {
      Server::server_close();  // refuses new connects, ends idle connections
      if (wait) close_workers();
    }
  }

 protected:
  /// The destructor's part, for the policy's own destructor: as the most
  /// derived class it stops the threads before any vtable changes under them.
  void stop() {
    this->shutdown();
    WorkerPolicy::server_close();
    close_workers();  // block_on_close off: the joining waits until here
  }

  void process_request(Request request) override {
    workers_.prune();
    if (!places_.acquire(this->options().overload, [this] { return this->shutdown_requested(); }))
      return this->refuse(request);
    try {
      workers_.submit(request);
    } catch (...) {
      places_.release();
      throw;
    }
  }
  void end_of_batch() override {
    Server::end_of_batch();
    workers_.end_of_batch();
  }
  void service_actions() override {
    Server::service_actions();
    workers_.prune();
  }
  void interrupt_waits() override {
    Server::interrupt_waits();
    places_.interrupt();
  }
  void add_policy_stats(ServerStats& stats) const override {
    Server::add_policy_stats(stats);
    stats.threads += workers_.threads();
    stats.queued += workers_.queued();
  }

  Limit places_{Shape::places(this->options())};
  Workers workers_{Shape::config(this->options(), kDatagram),
                   [this](Request& r, bool in_time) { serve(r, in_time); }};

 private:
  void serve(Request& request, bool in_time) {
    if (in_time) {
      this->finish_and_close(request);
    } else {
      this->cut_unserved(request);
    }
    places_.release();
  }
  void close_workers() {
    workers_.close(this->close_deadline(), [this] { this->close_active_connections(); });
  }
};

}  // namespace switchboard::detail
