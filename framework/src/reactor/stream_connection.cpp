#include "stream_connection.hpp"

#include <poll.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/post.hpp>
#include <exception>

#include "event_loop.hpp"
#include "reactor.hpp"
#include "switchboard/coroutine.hpp"

namespace switchboard::detail {
namespace {

// Whether `fd` becomes readable within `ns` nanoseconds.
bool readable_within(int fd, long ns) {
  const timespec limit{ns / 1'000'000'000, ns % 1'000'000'000};
  pollfd p{fd, POLLIN, 0};
  return ::ppoll(&p, 1, &limit, nullptr) > 0;
}

}  // namespace

StreamConnection::StreamConnection(Reactor& reactor, EventLoop& loop, Request request,
                                   HandlerRun::Mode mode, std::unique_ptr<BaseRequestHandler> made)
    : reactor_(reactor),
      loop_(loop),
      request_(std::move(request)),
      run_(reactor.server(), request_, mode, std::move(made)) {
  reactor_.opened();
}

StreamConnection::~StreamConnection() {
  run_.done();     // finish() if due; the handler goes before its connection
  async_.reset();  // Asio forgets the descriptor before its number can be reused
  run_.close();
  reactor_.closed();
}

void StreamConnection::start(Reactor& reactor, Request request, HandlerKind kind,
                             std::unique_ptr<BaseRequestHandler> made) noexcept {
  const bool coroutine = kind == HandlerKind::coroutine;
  std::unique_ptr<StreamConnection> c;
  try {
    c.reset(new StreamConnection(reactor, reactor.next_loop(), std::move(request),
                                 coroutine ? HandlerRun::Mode::awaited : HandlerRun::Mode::parking,
                                 std::move(made)));
  } catch (...) {
    HandlerRun(reactor.server(), request).fail(std::current_exception());
    return;  // reported and closed
  }
  if (coroutine) {
    EventLoop& loop = c->loop_;
    asio::post(loop.io(), [c = std::move(c)]() mutable { start_coroutine(std::move(c)); });
    return;
  }
  c->node().boundary = c.get();  // its reader parks here
  c->linger_ns_ = static_cast<long>(reactor.server().options().park_linger.count() * 1e9);
  resubmit(std::move(c));
}

// Lends the descriptor to the loop's Asio reactor. Loop thread.
bool StreamConnection::lend_to_loop() noexcept {
  if (async_) return true;
  try {
    BaseServer& server = reactor_.server();
    const ServerOptions& options = server.options();
    async_ =
        std::make_unique<AsyncConnection>(loop_.io(), loop_.sweeper(), request_.connection.fd(),
                                          server.server_address().family(), options, &node());
    if (!first_request_read_)
      async_->set_first_request_deadline(
          AsyncConnection::first_request_deadline(options, accepted_));
    return true;
  } catch (...) {
    run_.fail(std::current_exception());
    return false;
  }
}

// --- coroutine handlers -------------------------------------------------------

void StreamConnection::start_coroutine(std::unique_ptr<StreamConnection> self) {
  if (!self->lend_to_loop()) return;
  self->async_->drained_by_loop();
  self->run_.start();  // finish_request(): made, and setup()
  if (!self->run_.awaiting()) return;
  EventLoop& loop = self->loop_;
  StreamConnection& c = *self;
  asio::co_spawn(loop.io(), c.serve_coroutine(std::move(self)), asio::detached);
}

// handle_async(), then what it wrote goes out, also after an error. `self`
// owns this connection: it ends when the coroutine ends (or is destroyed).
asio::awaitable<void> StreamConnection::serve_coroutine(
    [[maybe_unused]] std::unique_ptr<StreamConnection> self) {
  auto& h = static_cast<AsyncStreamRequestHandler&>(*run_.handler());
  BoundStreams bound(h, *async_);
  try {
    co_await h.handle_async();
  } catch (...) {
    run_.fail(std::current_exception());
  }
  try {
    co_await async_->flush();
  } catch (...) {
    run_.fail(std::current_exception());
  }
}

// --- restartable blocking handlers ---------------------------------------------

// On a worker: handle() until it ends or parks.
void StreamConnection::run() noexcept {
  std::unique_ptr<StreamConnection> self(this);
  if (!std::exchange(started_, true)) {
    run_.start();
  } else {
    run_.resume();
  }
  if (!run_.parked()) return self.release()->end_on_worker();
  EventLoop& loop = loop_;
  asio::post(loop.io(), [self = std::move(self)]() mutable { park(std::move(self)); });
}

// The reader at a request boundary: what is there is the next request; with
// nothing there the handler unwinds (Parked) and the loop waits for bytes.
// Not marked idle: what it takes here is a request, and the loop marks a
// parked connection idle itself.
std::size_t StreamConnection::next_request(ActiveConnection& c, Socket& s, char* into,
                                           std::size_t size,
                                           std::chrono::steady_clock::time_point first_deadline) {
  // A parking reader does not wait: the loop's sweep keeps the deadline.
  if (first_deadline != std::chrono::steady_clock::time_point{} &&
      std::chrono::steady_clock::now() >= first_deadline)
    throw_errno(ETIMEDOUT, "no complete request before the first-request deadline");
  if (expired_) throw_errno(ETIMEDOUT, "read timed out");
  if (c.ended.load()) return 0;  // the drain ended it while parked
  long n = s.recv_nowait(into, size);
  if (n >= 0) return static_cast<std::size_t>(n);
  if (c.draining->load()) {
    // Finished unless bytes came between the look above and the drain: a request.
    n = s.recv_nowait(into, size);
    return n < 0 ? 0 : static_cast<std::size_t>(n);
  }
  // Parking costs an unwind (~50k instructions) and two hand-offs; while no
  // other connection waits for a worker, the next request may come first.
  if (linger_ns_ > 0 && reactor_.workers().queued() == 0 && readable_within(s.fd(), linger_ns_))
    n = s.recv_nowait(into, size);
  if (n >= 0) return static_cast<std::size_t>(n);
  run_.park_thrown();
  throw Parked{};
}

// A descriptor lent to Asio is given back on its loop before it closes.
void StreamConnection::end_on_worker() {
  std::unique_ptr<StreamConnection> self(this);
  if (!async_) return;  // ends here
  EventLoop& loop = loop_;
  asio::post(loop.io(), [self = std::move(self)] {});
}

// On the loop: wait for the next bytes without a thread.
void StreamConnection::park(std::unique_ptr<StreamConnection> self) {
  if (!self->lend_to_loop()) return;
  ActiveConnection& node = self->node();
  if (self->first_request_read_) self->async_->set_first_request_deadline({});
  node.idle.store(true);        // seq_cst, paired with the drain's store then scan
  if (node.draining->load()) {  // draining: the worker's reader sees the end at once
    node.idle.store(false, std::memory_order_relaxed);
    return resubmit(std::move(self));
  }
  AsyncConnection& async = *self->async_;
  async.wait_readable([self = std::move(self)](const asio::error_code&) mutable {
    // Lost to the drain: its reader sees the end without taking a byte.
    if (!self->node().idle.exchange(false)) self->node().ended.store(true);
    // Silent past the idle timeout: its reader throws errc::timed_out, as a blocking read would.
    if (self->async_->read_expired()) self->expired_ = true;
    resubmit(std::move(self));
  });
}

void StreamConnection::resubmit(std::unique_ptr<StreamConnection> self) {
  try {
    self->reactor_.workers().submit(*self);
    self.release();
  } catch (...) {
    self->run_.fail(std::current_exception());  // no worker to serve it: it ends
  }
}

}  // namespace switchboard::detail
