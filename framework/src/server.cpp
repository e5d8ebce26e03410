// The request lifecycle, top to bottom. Policies override process_request()
// (and server_close()); everything else every server shares. One request's
// handler runs in detail::HandlerRun (handler_run.cpp), whatever runs it.

#include "switchboard/server.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <deque>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>

#include "connections.hpp"
#include "counters.hpp"
#include "handler_run.hpp"
#include "server_access.hpp"
#include "switchboard/handler.hpp"

namespace switchboard {
namespace detail {

// MAP_SHARED: what a forked child counts (its errors, timeouts and resets)
// reaches the parent's stats(); lock-free atomics work across processes.
std::unique_ptr<Counters, UnmapCounters> make_shared_counters() {
  void* memory =
      ::mmap(nullptr, sizeof(Counters), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) throw_errno("mmap");
  return std::unique_ptr<Counters, UnmapCounters>(
      std::construct_at(static_cast<Counters*>(memory)));
}

void UnmapCounters::operator()(Counters* counters) const noexcept {
  std::destroy_at(counters);
  ::munmap(counters, sizeof(Counters));
}

}  // namespace detail

BaseServer::BaseServer(Address address, int socket_type, HandlerFactory factory,
                       ServerOptions options)
    : address_(std::move(address)),
      socket_type_(socket_type),
      factory_(std::move(factory)),
      options_(std::move(options)),
      socket_(std::make_shared<Socket>()),
      counters_(detail::make_shared_counters()),
      active_(std::make_unique<detail::ActiveSet>(options_.max_connections)) {
  if (!factory_) throw std::invalid_argument("server needs a handler factory");
  const bool addressed = address_.family() != AF_UNSPEC;
  if (!addressed && options_.bind_and_activate)
    throw std::invalid_argument(
        "server needs an address (or bind_and_activate off, and adopt_socket())");
  wake_ = Socket(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_) throw_errno("eventfd");
  // Without an address the socket comes from adopt_socket().
  if (addressed) *socket_ = Socket::open(address_.family(), socket_type | SOCK_NONBLOCK);
  if (options_.bind_and_activate) {  // the bases', as Python's constructor calls them
    BaseServer::server_bind();
    BaseServer::server_activate();
  }
}

BaseServer::~BaseServer() {
  shutdown();
  BaseServer::server_close();
}

std::string BaseServer::url() const {
  const bool stream = socket_type_ == SOCK_STREAM;
  if (address_.is_unix()) return (stream ? "unix:" : "unix-dgram:") + address_.path();
  return (stream ? "tcp://" : "udp://") + address_.to_string();
}

ServerStats BaseServer::stats() const {
  const auto& c = *counters_;
  auto get = [](const detail::Counters::Counter& n) { return n.load(std::memory_order_relaxed); };
  ServerStats s;
  s.total_requests = get(c.total_requests);
  s.connections = active_->size();
  s.peak_connections = active_->peak();
  s.active_requests = get(c.active_requests);
  s.max_active = get(c.max_active);
  s.refused = get(c.refused);
  s.rejected = get(c.rejected);
  s.handler_errors = get(c.handler_errors);
  s.peer_resets = get(c.peer_resets);
  s.timed_out = get(c.timed_out);
  s.cut = get(c.cut);
  s.accept_errors = get(c.accept_errors);
  s.dropped_datagrams = get(c.dropped_datagrams);
  add_policy_stats(s);
  return s;
}

// --- serving -----------------------------------------------------------------

void BaseServer::serve_forever() {
  if (!activated_)
    throw std::logic_error("serve_forever() before server_bind() and server_activate()");
  {
    std::lock_guard lock(serving_mutex_);
    serving_ = true;
    serving_thread_ = std::this_thread::get_id();
  }
  struct Done {  // whatever ends the loop, shutdown() waiters are released
    BaseServer& self;
    ~Done() {
      std::lock_guard lock(self.serving_mutex_);
      self.serving_ = false;
      self.serving_thread_ = {};
      self.stop_.store(false, std::memory_order_release);
      self.serving_done_.notify_all();
    }
  } done{*this};
  serve_until_shutdown();
  if (draining() && socket_type_ == SOCK_STREAM) serve_accepted();
}

void BaseServer::serve_until_shutdown() {
  while (!shutdown_requested() && !socket_closed_.load()) {
    if (wait_ready(-1)) serve_ready(64);
    service_actions();
  }
}

// The drain took what the kernel had accepted before new connects stopped:
// served now, as queued connections are (a request already sent gets its
// reply); past the close deadline they are cut unserved. Then the listener
// closes.
void BaseServer::serve_accepted() {
  std::deque<Request> accepted;
  {
    std::lock_guard lock(socket_mutex_);
    accepted.swap(accepted_);
  }
  const auto deadline = close_deadline();
  for (Request& request : accepted) {
    detail::Counters::bump(counters_->total_requests);
    if (std::chrono::steady_clock::now() < deadline) {
      dispatch(std::move(request));
    } else {
      cut_unserved(request);
    }
  }
  if (!accepted.empty()) end_of_batch();
  close_listener();
}

void BaseServer::handle_request() {
  if (!activated_)
    throw std::logic_error("handle_request() before server_bind() and server_activate()");
  const double seconds = options_.request_timeout.count();
  const int timeout_ms = seconds > 0 ? static_cast<int>(seconds * 1000) : -1;
  if (!wait_ready(timeout_ms)) {
    if (!shutdown_requested()) handle_timeout();
    return;
  }
  serve_ready(1);
}

// Waits for the socket to be readable or shutdown(); true if readable.
bool BaseServer::wait_ready(int timeout_ms) {
  if (socket_closed_.load() || !*socket_) return false;
  pollfd fds[2] = {{socket_->fd(), POLLIN, 0}, {wake_.fd(), POLLIN, 0}};
  for (;;) {
    const int n = ::poll(fds, 2, timeout_ms);
    if (n >= 0) break;
    if (errno != EINTR) throw_errno("poll");
  }
  if (fds[1].revents) {
    std::uint64_t count;
    [[maybe_unused]] auto n = ::read(wake_.fd(), &count, sizeof count);
  }
  return fds[0].revents != 0 && !shutdown_requested();
}

// Serves what is ready, up to `batch` requests, so service_actions() still runs.
void BaseServer::serve_ready(int batch) {
  struct EndOfBatch {  // also when get_request() throws: nothing queued is left unannounced
    BaseServer& self;
    ~EndOfBatch() { self.end_of_batch(); }
  } end{*this};
  for (int i = 0; i < batch && !shutdown_requested() && room_for_connection(); ++i) {
    Request request;
    if (!get_request(request)) break;
    detail::Counters::bump(counters_->total_requests);
    dispatch(std::move(request));
  }
}

// max_connections with Overload::block: accept nothing until one closes (the
// kernel backlog holds the rest). False if shutdown() came first.
bool BaseServer::room_for_connection() {
  if (socket_type_ != SOCK_STREAM || options_.overload == Overload::refuse) return true;
  return active_->wait_for_room([this] { return shutdown_requested(); });
}

void BaseServer::dispatch(Request request) {
  // After shutdown() none is served; a drain serves what was accepted.
  if (shutdown_requested() && !draining()) return;
  if (request.connection) {
    // Overload::refuse (and the drain's last connections); block waited before accepting.
    request.entry = active_->admit(request.connection.fd(), draining_);
    if (!request.entry) return refuse(request);
  }
  if (!verify_request(request)) {
    detail::Counters::bump(counters_->rejected);
    shutdown_request(request);
    return;
  }
  try {
    process_request(std::move(request));
  } catch (...) {  // the policy could not take it (no thread, no fork): report, keep serving
    detail::HandlerRun::report(*this, request, std::current_exception());
    shutdown_request(request);
  }
}

bool BaseServer::verify_request(const Request&) { return true; }

void BaseServer::process_request(Request request) { finish_and_close(request); }

// CPython's process_request_thread(): finish_request(), handle_error() for
// what it threw, shutdown_request() whatever happened.
bool BaseServer::finish_and_close(Request& request) noexcept {
  detail::HandlerRun run(*this, request);
  run.start();
  return run.end();
}

void BaseServer::finish_request(Request& request) { detail::HandlerRun::serve(*this, request); }

void BaseServer::shutdown_request(Request& request) {
  if (in_child_) [[maybe_unused]]
    auto* parents = request.entry.release();  // see become_child()
  request.entry.reset();  // out of the open set before the descriptor number can be reused
  request.connection.close();
}

void BaseServer::handle_error(const Request& request) {
  std::string what = "unknown exception";
  try {
    throw;
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  std::fprintf(stderr, "switchboard: error while serving %s: %s\n",
               request.client_address.to_string().c_str(), what.c_str());
}

void BaseServer::refuse_request(Request&) {}

void BaseServer::cut_unserved(Request& request) noexcept {
  if (request.connection && !(request.entry && request.entry->cut.load()))
    detail::Counters::bump(counters_->cut);  // not counted yet: it had no place among the open
  try {
    shutdown_request(request);
  } catch (...) {
  }
}

void BaseServer::refuse(Request& request) noexcept {
  detail::Counters::bump(counters_->refused);
  try {
    refuse_request(request);
  } catch (...) {
  }
  try {
    shutdown_request(request);
  } catch (...) {
  }
}

// --- stopping ----------------------------------------------------------------

void BaseServer::shutdown() {
  request_stop();
  std::unique_lock lock(serving_mutex_);
  if (serving_thread_ == std::this_thread::get_id()) return;  // from a handler on the loop
  serving_done_.wait(lock, [this] { return !serving_; });
}

void BaseServer::request_stop() noexcept {
  stop_.store(true, std::memory_order_release);
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_.fd(), &one, sizeof one);
  active_->interrupt();
  interrupt_waits();
}

void BaseServer::drain() {
  start_drain();
  wait_served_until_deadline();
}

void BaseServer::retire() {
  retiring_ = true;
  close_deadline();
  request_stop();  // serve_forever() closes nothing of the listener's on its way out
  wait_served_until_deadline();
}

// serve_forever() returns; past the close deadline, once what it serves is cut.
void BaseServer::wait_served_until_deadline() {
  const auto deadline = close_deadline();
  std::unique_lock lock(serving_mutex_);
  if (serving_thread_ == std::this_thread::get_id()) return;
  if (!serving_done_.wait_until(lock, deadline, [this] { return !serving_; })) {
    lock.unlock();
    close_active_connections();  // the deadline: what is still in flight loses its connection
    lock.lock();
    serving_done_.wait(lock, [this] { return !serving_; });
  }
}

void BaseServer::start_drain() noexcept {
  close_deadline();
  stop_accepting();  // server_socket.cpp; serve_forever() serves what it took
  drain_connections();
  request_stop();
}

void BaseServer::drain_connections() noexcept {
  // Idle connections end now; a reader that becomes idle later ends then
  // (it looks at `draining_`); requests in flight go on.
  if (draining_.exchange(true)) return;
  active_->shutdown_idle();
  try {
    on_drain();
  } catch (...) {
  }
}

std::chrono::steady_clock::time_point BaseServer::close_deadline() {
  using clock = std::chrono::steady_clock;
  const auto proposed =
      (clock::now() + std::chrono::duration_cast<clock::duration>(options_.close_timeout))
          .time_since_epoch()
          .count();
  std::int64_t current = 0;
  close_deadline_.compare_exchange_strong(current, proposed);
  return clock::time_point(clock::duration(current ? current : proposed));
}

void BaseServer::server_close() {
  {
    std::lock_guard lock(socket_mutex_);
    // A datagram reply still being sent holds the socket (Request::reply_socket):
    // closing it under the reply would send it from whatever socket reuses the
    // number. Policies finish their replies first; if one is still out
    // (block_on_close off), the socket closes with its last user.
    if (socket_type_ == SOCK_STREAM || socket_.use_count() == 1) socket_->close();
    socket_closed_ = true;
  }
  close_deadline();
  if (!retiring_) drain_connections();  // retired: open connections go on until the deadline
  remove_unix_path();
  std::lock_guard lock(socket_mutex_);
  accepted_.clear();  // taken by a drain that no serve_forever() served
}

void BaseServer::close_active_connections() {
  // Counted as they are cut (a handler that ignores the cut may never end),
  // and first: a handler woken by wait_for_close_deadline() finds its
  // connection cut.
  counters_->cut.fetch_add(active_->cut_all(), std::memory_order_relaxed);
  std::lock_guard lock(serving_mutex_);
  cut_ = true;
  serving_done_.notify_all();
}

bool BaseServer::wait_for_close_deadline(Seconds timeout) {
  std::unique_lock lock(serving_mutex_);
  return serving_done_.wait_for(lock, timeout, [this] { return cut_; });
}

bool BaseServer::wait_for_wake(Seconds timeout) {
  pollfd p{wake_.fd(), POLLIN, 0};
  const int n = ::poll(&p, 1, static_cast<int>(timeout.count() * 1000));
  return n > 0 || shutdown_requested();
}

void BaseServer::become_child() noexcept {
  in_child_ = true;
  // A parent thread may have held the set's lock at fork() (a drain, an
  // admission): that copy is never unlocked, so it is abandoned (not
  // destroyed) for a fresh one, and the request's entry with it.
  [[maybe_unused]] detail::ActiveSet* parents = active_.release();
  active_ = std::make_unique<detail::ActiveSet>(options_.max_connections);
  wake_.close();
  if (socket_type_ == SOCK_STREAM) socket_->close();
  close_deadline_ = 0;
  created_path_.clear();  // the parent removes it
}

namespace detail {

void ServerAccess::wait_for_shutdown(BaseServer& s) {
  while (!s.shutdown_requested()) {
    pollfd p{s.wake_.fd(), POLLIN, 0};
    if (::poll(&p, 1, -1) < 0 && errno != EINTR) throw_errno("poll");
    std::uint64_t count;
    [[maybe_unused]] auto n = ::read(s.wake_.fd(), &count, sizeof count);
  }
}

}  // namespace detail
}  // namespace switchboard
