#include "reactor.hpp"

#include <netinet/in.h>
#include <sched.h>

#include <asio/post.hpp>
#include <stdexcept>
#include <thread>

#include "../handler_run.hpp"
#include "../server_access.hpp"
#include "datagram_loop.hpp"
#include "stream_connection.hpp"
#include "switchboard/reactor.hpp"
#include "switchboard/socket.hpp"

namespace switchboard::detail {

namespace {

// "One per core" means the cores this process may run on: a server pinned to
// one CPU (taskset) gets one loop, not one per core of the machine.
std::size_t usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
    return static_cast<std::size_t>(CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

// Another socket on the server's UDP port, in its SO_REUSEPORT group: the
// kernel spreads senders over the group's sockets.
Socket reuse_port_socket(const Address& address, const ServerOptions& options) {
  Socket s = Socket::open(address.family(), SOCK_DGRAM | SOCK_NONBLOCK);
  s.set_option(SOL_SOCKET, SO_REUSEPORT, 1);
  if (address.family() == AF_INET6 && options.ipv6_only)
    s.set_option(IPPROTO_IPV6, IPV6_V6ONLY, *options.ipv6_only ? 1 : 0);
  if (::bind(s.fd(), address.data(), address.size()) < 0)
    throw_errno(("bind " + address.to_string() + " (SO_REUSEPORT)").c_str());
  return s;
}

// A request served whole on a worker, as the pool serves it.
class WholeJob final : public Job {
 public:
  WholeJob(Reactor& reactor, Request request, std::unique_ptr<BaseRequestHandler> made)
      : reactor_(reactor),
        request_(std::move(request)),
        run_(reactor.server(), request_, HandlerRun::Mode::blocking, std::move(made)) {
    reactor_.opened();
  }
  ~WholeJob() {
    run_.end();  // closes it, if it was never served
    reactor_.places().release();
    reactor_.closed();
  }
  HandlerRun& handler_run() { return run_; }
  void run() noexcept override {
    std::unique_ptr<WholeJob> self(this);
    run_.start();
  }

 private:
  Reactor& reactor_;
  Request request_;
  HandlerRun run_;
};

}  // namespace

Reactor::Reactor(BaseServer& server)
    : server_(server),
      places_(server.options().threads + server.options().max_queued),
      workers_({server.options().threads, 0, std::chrono::milliseconds::max(), Workers::Wake::each},
               [](Request&, bool) {}) {  // its tasks are jobs
  const ServerOptions& o = server.options();
  if (o.threads == 0) throw std::invalid_argument("the reactor needs at least one worker thread");
  if (o.max_queued == 0) throw std::invalid_argument("max_queued must be at least 1");
  const std::size_t n = o.loops ? o.loops : usable_cpus();
  loops_.reserve(n);
  for (std::size_t i = 0; i < n; ++i) loops_.push_back(std::make_unique<EventLoop>(o));
  // The workers are joined in close() before the datagram loops go.
  if (server.socket_type() == SOCK_DGRAM)
    places_.on_room([this] {
      std::lock_guard lock(receiving_mutex_);
      for (auto& d : datagram_loops_) d->room_made();
    });
  for (auto& loop : loops_) loop->start();
  loop_threads_ = loops_.size();
}

Reactor::~Reactor() { close(std::chrono::steady_clock::now()); }

EventLoop& Reactor::next_loop() {
  return *loops_[next_.fetch_add(1, std::memory_order_relaxed) % loops_.size()];
}

void Reactor::opened() {
  std::lock_guard lock(mutex_);
  ++live_;
}

void Reactor::closed() {
  std::lock_guard lock(mutex_);
  if (--live_ == 0) changed_.notify_all();
}

bool Reactor::wait_idle(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  return changed_.wait_until(lock, deadline, [this] { return live_ == 0; });
}

// Where a connection's handler runs follows from its kind: a blocking one
// holds a worker for the connection's life; the others live on a loop. A
// factory that hides the kind is asked for the handler here, which then
// serves (nothing is made twice).
void Reactor::serve(Request request) {
  if (closed_.load()) return HandlerRun(server_, request).close();
  if (request.is_datagram())
    return submit_whole(std::move(request), nullptr);  // handle_request()'s
  const HandlerFactory& factory = server_.handler_factory();
  HandlerKind kind = factory.kind();
  std::unique_ptr<BaseRequestHandler> made;
  if (!factory.kind_known()) {
    try {
      made = HandlerRun::make(server_, request);
    } catch (...) {
      HandlerRun run(server_, request);
      run.fail(std::current_exception());
      return;  // reported and closed
    }
    kind = HandlerRun::kind_of(*made);
  }
  if (kind == HandlerKind::blocking) {
    // The pool's admission: the serving thread waits for a place (block), or refuses.
    if (!places_.acquire(server_.options().overload,
                         [this] { return ServerAccess::shutdown_requested(server_); }))
      return ServerAccess::refuse(server_, request);
    return submit_whole(std::move(request), std::move(made));
  }
  StreamConnection::start(*this, std::move(request), kind, std::move(made));
}

void Reactor::submit_whole(Request request, std::unique_ptr<BaseRequestHandler> made) noexcept {
  std::unique_ptr<WholeJob> job;
  try {
    job = std::make_unique<WholeJob>(*this, std::move(request), std::move(made));
    workers_.submit(*job);
    job.release();
  } catch (...) {  // no worker to run it: reported, and closed by the job's destructor
    if (job) job->handler_run().fail(std::current_exception());
  }
}

void Reactor::serve_datagrams() {
  {
    std::lock_guard lock(receiving_mutex_);
    if (closed_.load()) return;
    // Made now, not with the reactor: the server may have been made with
    // bind_and_activate off, and its socket bound or adopted since.
    // socket_per_loop: the other loops' sockets join the port; not an
    // adopted socket's, whose datagrams would be lost when we close ours.
    if (datagram_loops_.empty() && server_.socket()) {
      datagram_loops_.push_back(
          std::make_unique<DatagramLoop>(*this, *loops_[0], server_.socket()));
      const ServerOptions& o = server_.options();
      if (o.socket_per_loop && server_.server_address().is_ip() && !server_.socket_borrowed()) {
        for (std::size_t i = 1; i < loops_.size(); ++i) {
          Socket s = reuse_port_socket(server_.server_address(), o);
          datagram_loops_.push_back(std::make_unique<DatagramLoop>(*this, *loops_[i], s));
        }
      }
    }
    for (auto& d : datagram_loops_) d->start();
    receiving_ = true;
  }
  ServerAccess::wait_for_shutdown(server_);
  stop_receiving();
}

void Reactor::stop_receiving() {
  std::lock_guard lock(receiving_mutex_);
  if (!receiving_) return;
  for (auto& d : datagram_loops_) d->stop();
  receiving_ = false;
}

void Reactor::drain_loops() {
  std::lock_guard lock(receiving_mutex_);  // loops_ stays whole while we post
  for (auto& loop : loops_) asio::post(loop->io(), [l = loop.get()] { l->sweeper().drain(); });
}

void Reactor::close(std::chrono::steady_clock::time_point deadline) {
  if (closed_.exchange(true)) return;
  if (server_.socket_type() == SOCK_DGRAM) ServerAccess::stop(server_);  // serve_forever() returns
  stop_receiving();
  // Idle connections end now (server_close() drained the others' readers),
  // unless the server retires; the rest get until the deadline, then lose
  // their connections. Whatever still waits on I/O then ends at once; a
  // coroutine awaiting something else is destroyed with its loop.
  if (ServerAccess::ends_idle(server_)) drain_loops();
  if (!wait_idle(deadline)) {
    ServerAccess::close_active_connections(server_);
    wait_idle(std::chrono::steady_clock::now() + std::chrono::seconds(1));
  }
  workers_.close(std::chrono::steady_clock::now(), [] {});  // none is left to cut
  for (auto& d : datagram_loops_) d->shut();
  for (auto& loop : loops_) loop->stop();
  loop_threads_ = 0;
  // While this object is whole: what a loop still held (a connection's
  // coroutine, a reply in flight) is destroyed with it and closes itself here.
  std::vector<std::unique_ptr<EventLoop>> loops;
  {
    std::lock_guard lock(receiving_mutex_);  // drain_loops() may be posting
    loops.swap(loops_);
  }
  loops.clear();
  datagram_loops_.clear();
}

}  // namespace switchboard::detail

namespace switchboard::detail {

ServerOptions reactor_options(ServerOptions options, bool datagram) {
  if (datagram && options.socket_per_loop) options.reuse_port = true;  // set before bind
  return options;
}

ReactorCore::ReactorCore(BaseServer& server) : reactor_(std::make_unique<Reactor>(server)) {}
ReactorCore::~ReactorCore() = default;
void ReactorCore::serve(Request request) { reactor_->serve(std::move(request)); }
void ReactorCore::serve_datagrams() { reactor_->serve_datagrams(); }
void ReactorCore::drain() { reactor_->drain_loops(); }
void ReactorCore::close(std::chrono::steady_clock::time_point deadline) {
  reactor_->close(deadline);
}
std::size_t ReactorCore::loops() const { return reactor_->loop_count(); }
std::size_t ReactorCore::workers() const { return reactor_->worker_count(); }
std::size_t ReactorCore::queued() const { return reactor_->queued(); }
void ReactorCore::interrupt() { reactor_->interrupt(); }

}  // namespace switchboard::detail
