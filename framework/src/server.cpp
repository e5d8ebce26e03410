// The request lifecycle, top to bottom. Policies override process_request()
// (and server_close()); everything else every server shares.

#include "switchboard/server.hpp"

#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <exception>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>

#include "connections.hpp"
#include "counters.hpp"
#include "server_access.hpp"
#include "switchboard/handler.hpp"

namespace switchboard {
namespace {

// Unix paths: a socket file nobody listens on is stale and replaced; a live one
// (or a file that is not a socket) is an error, as for a TCP port in use.
void prepare_unix_path(const Address& address, int type, bool replace_stale) {
  const std::string path = address.path();
  struct stat st {};
  if (path.empty() || ::lstat(path.c_str(), &st) != 0) return;
  if (!S_ISSOCK(st.st_mode))
    throw std::system_error(EADDRINUSE, std::generic_category(),
                            "bind " + path + ": the path exists and is not a socket");
  Socket probe = Socket::open(AF_UNIX, type);
  if (::connect(probe.fd(), address.data(), address.size()) == 0 || errno != ECONNREFUSED)
    throw std::system_error(EADDRINUSE, std::generic_category(),
                            "bind " + path + ": a server is listening there");
  if (!replace_stale)
    throw std::system_error(
        EADDRINUSE, std::generic_category(),
        "bind " + path + ": stale socket file (replace_stale_unix_path is off)");
  ::unlink(path.c_str());
}

bool is_peer_gone(const std::system_error& e) {
  const int err = e.code().value();
  return e.code().category() == std::generic_category() &&
         (err == EPIPE || err == ECONNRESET || err == ENOTCONN);
}

bool is_timeout(const std::system_error& e) {
  return e.code().category() == std::generic_category() && e.code().value() == ETIMEDOUT;
}

}  // namespace

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
      active_(std::make_unique<detail::ActiveSet>()) {
  if (!factory_) throw std::invalid_argument("server needs a handler factory");
  if (address_.family() == AF_UNSPEC) throw std::invalid_argument("server needs an address");
  wake_ = Socket(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_) throw_errno("eventfd");

  // server_bind(): options first, so they hold from the first connection.
  *socket_ = Socket::open(address_.family(), socket_type | SOCK_NONBLOCK);
  Socket& s = *socket_;
  if (address_.is_unix()) {
    prepare_unix_path(address_, socket_type, options_.replace_stale_unix_path);
  } else {
    if (options_.reuse_address && socket_type == SOCK_STREAM)
      s.set_option(SOL_SOCKET, SO_REUSEADDR, 1);
    if (options_.reuse_port) s.set_option(SOL_SOCKET, SO_REUSEPORT, 1);
    if (address_.family() == AF_INET6) s.set_option(IPPROTO_IPV6, IPV6_V6ONLY, 1);
  }
  if (::bind(s.fd(), address_.data(), address_.size()) < 0) {
    const int err = errno;
    throw std::system_error(err, std::generic_category(), "bind " + address_.to_string());
  }
  if (address_.is_unix()) {
    created_path_ = address_.path();
    struct stat st {};
    if (::stat(created_path_.c_str(), &st) == 0) created_file_ = {st.st_dev, st.st_ino};
  }
  address_ = s.local_address();
  if (address_.is_unix() && address_.path().empty()) address_ = Address::unix_path(created_path_);

  // server_activate()
  if (socket_type == SOCK_STREAM && ::listen(s.fd(), options_.backlog) < 0) {
    const int err = errno;
    if (!created_path_.empty()) ::unlink(created_path_.c_str());  // just made: ours
    throw std::system_error(err, std::generic_category(), "listen " + address_.to_string());
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
  s.queued = get(c.queued);
  s.refused = get(c.refused);
  s.rejected = get(c.rejected);
  s.handler_errors = get(c.handler_errors);
  s.peer_resets = get(c.peer_resets);
  s.timed_out = get(c.timed_out);
  s.accept_errors = get(c.accept_errors);
  s.dropped_datagrams = get(c.dropped_datagrams);
  add_policy_stats(s);
  return s;
}

std::atomic<std::uint64_t>& BaseServer::queued_counter() { return counters_->queued; }

// --- serving -----------------------------------------------------------------

void BaseServer::serve_forever() {
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
}

void BaseServer::serve_until_shutdown() {
  while (!shutdown_requested() && !socket_closed_.load()) {
    if (wait_ready(-1)) serve_ready(64);
    service_actions();
  }
}

void BaseServer::handle_request() {
  const double seconds = options_.request_timeout.count();
  const int timeout_ms = seconds > 0 ? static_cast<int>(seconds * 1000) : -1;
  if (!wait_ready(timeout_ms)) {
    if (!shutdown_requested()) handle_timeout();
    return;
  }
  serve_ready(1);
}

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
  {
    // shutdown(), not close(): the serving thread may be polling this descriptor.
    std::lock_guard lock(socket_mutex_);
    if (*socket_ && socket_type_ == SOCK_STREAM) {
      ::shutdown(socket_->fd(), SHUT_RDWR);
      // A TCP listener resets the connections in its backlog; a Unix one keeps
      // them waiting: end them now as well (their clients see end of file).
      if (address_.is_unix()) {
        for (int fd; (fd = ::accept4(socket_->fd(), nullptr, nullptr, SOCK_CLOEXEC)) >= 0;) {
          ::close(fd);
          detail::Counters::bump(counters_->refused);
        }
      }
    }
  }
  drain_connections();
  request_stop();
}

void BaseServer::drain_connections() noexcept {
  // Idle connections end now; a reader that becomes idle later ends then
  // (StreamReader looks at `draining_`); requests in flight go on.
  draining_.store(true);
  active_->shutdown_idle();
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
  drain_connections();
  // Only our own file: another server may have replaced it since.
  struct stat st {};
  if (!created_path_.empty() && ::lstat(created_path_.c_str(), &st) == 0 &&
      std::pair{st.st_dev, st.st_ino} == created_file_)
    ::unlink(created_path_.c_str());
  created_path_.clear();
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
  const std::size_t limit = options_.max_connections;
  if (socket_type_ != SOCK_STREAM || limit == 0 || options_.overload == Overload::refuse ||
      active_->size() < limit)
    return true;
  return active_->wait_below(limit, [this] { return shutdown_requested(); });
}

void BaseServer::dispatch(Request request) {
  if (shutdown_requested()) return;  // no request is served once shutdown began
  if (request.connection) {
    // Overload::refuse; with block, room_for_connection() waited before accepting.
    const std::size_t limit = options_.max_connections;
    if (limit != 0 && active_->size() >= limit) {
      refuse(request);
      return;
    }
    request.entry = active_->add(request.connection.fd(), draining_);
  }
  if (!verify_request(request)) {
    detail::Counters::bump(counters_->rejected);
    shutdown_request(request);
    return;
  }
  try {
    process_request(std::move(request));
  } catch (...) {  // the policy could not take it (no thread, no fork): report, keep serving
    handle_error(request);
    shutdown_request(request);
  }
}

bool BaseServer::verify_request(const Request&) { return true; }

// handle_error() from inside a catch block; its own failure must not escape.
void BaseServer::report_error(const Request& request) noexcept {
  try {
    handle_error(request);
  } catch (...) {
  }
}

void BaseServer::process_request(Request request) { finish_and_close(request); }

bool BaseServer::finish_and_close(Request& request) noexcept {
  auto& c = *counters_;
  if (request.entry) {
    // Drained while it waited for a worker, with nothing sent: already ended.
    if (request.entry->cut.load()) {
      shutdown_request(request);
      return true;
    }
    request.entry->started.store(true);
    request.entry->drain_fd = child_drain_fd_;
  }
  // A forked child's request is counted as its process: a child killed mid-request
  // must not leave `active` raised in the counters it shares with the parent.
  std::optional<detail::ActiveRequest> active;
  if (!in_child_) active.emplace(c);
  bool ok = true;
  try {
    finish_request(request);
  } catch (const std::system_error& e) {
    ok = false;
    if (is_timeout(e)) {
      detail::Counters::bump(c.timed_out);
    } else if (is_peer_gone(e)) {
      detail::Counters::bump(c.peer_resets);
    } else {
      detail::Counters::bump(c.handler_errors);
      report_error(request);
    }
  } catch (...) {
    ok = false;
    detail::Counters::bump(c.handler_errors);
    report_error(request);
  }
  try {
    shutdown_request(request);
  } catch (...) {
  }
  return ok;
}

void BaseServer::finish_request(Request& request) {
  std::unique_ptr<BaseRequestHandler> handler = factory_();
  if (!handler) throw std::logic_error("handler factory returned no handler");
  handler->request_ = &request;
  handler->server_ = this;
  handler->setup();
  try {
    handler->handle();
  } catch (...) {
    try {
      handler->finish();
    } catch (...) {
    }  // the first error is the one to report
    throw;
  }
  handler->finish();
}

void BaseServer::shutdown_request(Request& request) {
  if (in_child_) [[maybe_unused]]
    auto* parents = request.entry.release();  // see close_in_child()
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

void BaseServer::close_active_connections() {
  {
    std::lock_guard lock(serving_mutex_);
    cut_ = true;
    serving_done_.notify_all();
  }
  active_->shutdown_all();
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

void BaseServer::close_in_child(int drain_fd) noexcept {
  in_child_ = true;
  child_drain_fd_ = drain_fd;
  // A parent thread may have held the set's lock at fork() (a drain, an
  // admission): that copy is never unlocked, so it is abandoned (not
  // destroyed) for a fresh one, and the request's entry with it.
  [[maybe_unused]] detail::ActiveSet* parents = active_.release();
  active_ = std::make_unique<detail::ActiveSet>();
  wake_.close();
  if (socket_type_ == SOCK_STREAM) socket_->close();
  close_deadline_ = 0;
  created_path_.clear();  // the parent removes it
}

// --- what the reactor reaches (server_access.hpp) -------------------------------

namespace detail {

void ServerAccess::handler_failed(BaseServer& s, const Request& r) noexcept {
  auto& c = *s.counters_;
  try {
    throw;
  } catch (const std::system_error& e) {
    if (is_timeout(e)) {
      Counters::bump(c.timed_out);
      return;
    }
    if (is_peer_gone(e)) {
      Counters::bump(c.peer_resets);
      return;
    }
  } catch (...) {
  }
  Counters::bump(c.handler_errors);
  try {
    s.handle_error(r);
  } catch (...) {
  }
}

void ServerAccess::datagram_dropped(BaseServer& s, const Request& r, std::size_t size) noexcept {
  Counters::bump(s.counters_->dropped_datagrams);
  try {
    throw std::length_error("datagram of " + std::to_string(size) +
                            " bytes exceeds max_datagram (" +
                            std::to_string(s.options_.max_datagram) + "); dropped");
  } catch (...) {
    try {
      s.handle_error(r);
    } catch (...) {
    }
  }
}

void ServerAccess::wait_for_shutdown(BaseServer& s) {
  while (!s.shutdown_requested()) {
    pollfd p{s.wake_.fd(), POLLIN, 0};
    if (::poll(&p, 1, -1) < 0 && errno != EINTR) throw_errno("poll");
    std::uint64_t count;
    [[maybe_unused]] auto n = ::read(s.wake_.fd(), &count, sizeof count);
  }
}

}  // namespace detail

// --- open connections ---------------------------------------------------------

void BaseServer::lend_to_child(Request& request) {
  if (request.entry) active_->forget_fd(*request.entry);
}

detail::ConnectionEntry BaseServer::hand_over(Request& request) {
  if (request.entry) active_->forget_fd(*request.entry);
  request.connection.close();
  return std::move(request.entry);
}

}  // namespace switchboard
