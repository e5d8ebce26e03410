#include "stream_connection.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/post.hpp>
#include <exception>

#include "event_loop.hpp"
#include "reactor.hpp"
#include "switchboard/coroutine.hpp"

namespace switchboard::detail {

StreamConnection::StreamConnection(Reactor& reactor, EventLoop& loop, Request request)
    : reactor_(reactor), loop_(loop), request_(std::move(request)) {
  reactor_.opened();
}

StreamConnection::~StreamConnection() {
  if (handed_over_) {
    reactor_.closed();
    return;
  }
  BaseServer& server = reactor_.server();
  if (handler_ && ServerAccess::is_stream_coroutine(*handler_))
    ServerAccess::unbind(static_cast<AsyncStreamRequestHandler&>(*handler_));
  handler_.reset();  // as in finish_request(): the handler goes before the connection closes
  async_.reset();    // Asio forgets the descriptor before its number can be reused
  ServerAccess::shutdown_request(server, request_);
  active_.reset();
  reactor_.closed();
}

bool StreamConnection::take() {
  if (node().cut.load()) return false;  // drained before a handler took it: it is ended
  node().started.store(true);
  return true;
}

void StreamConnection::report(std::exception_ptr error) noexcept {
  try {
    std::rethrow_exception(error);
  } catch (...) {
    ServerAccess::handler_failed(reactor_.server(), request_);
  }
}

void StreamConnection::start(Reactor& reactor, Request request) noexcept {
  if (reactor.serves_whole()) return reactor.submit_whole(std::move(request));
  std::unique_ptr<StreamConnection> c;
  try {
    c.reset(new StreamConnection(reactor, reactor.next_loop(), std::move(request)));
    c->handler_ = ServerAccess::make_handler(reactor.server(), c->request_);
  } catch (...) {
    if (c) c->report(std::current_exception());
    return;  // the destructor closes it
  }
  BaseRequestHandler* h = c->handler_.get();
  if (ServerAccess::is_stream_coroutine(*h)) {
    EventLoop& loop = c->loop_;
    asio::post(loop.io(), [c = std::move(c)]() mutable { start_coroutine(std::move(c)); });
    return;
  }
  if (auto* s = dynamic_cast<StreamRequestHandler*>(h); s && s->restartable) {
    c->node().parkable = true;
    c->node().waiting_jobs = &reactor.workers().waiting();
    c->node().linger_ns = static_cast<long>(reactor.server().options().park_linger.count() * 1e9);
    return resubmit(std::move(c));
  }
  // A handler that keeps its connection for life: the pool's way, and from
  // now on without making one here first.
  reactor.serve_whole_from_now_on();
  c->handler_.reset();
  c->handed_over_ = true;
  reactor.submit_whole(std::move(c->request_));
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
    if (!node().first_request_read.load())
      async_->set_first_request_deadline(
          AsyncConnection::first_request_deadline(options, accepted_));
    return true;
  } catch (...) {
    report(std::current_exception());
    return false;
  }
}

// --- coroutine handlers -------------------------------------------------------

void StreamConnection::start_coroutine(std::unique_ptr<StreamConnection> self) {
  if (!self->take() || !self->lend_to_loop()) return;
  self->async_->drained_by_loop();
  ServerAccess::bind(static_cast<AsyncStreamRequestHandler&>(*self->handler_), *self->async_);
  EventLoop& loop = self->loop_;
  StreamConnection& c = *self;
  asio::co_spawn(loop.io(), c.serve_coroutine(std::move(self)), asio::detached);
}

// setup(); handle_async(); flush; finish(), as finish_request() runs them:
// finish() also after an error in handle_async(), whose error is the one reported.
// `self` owns this connection: it closes when the coroutine ends (or is destroyed).
asio::awaitable<void> StreamConnection::serve_coroutine(
    [[maybe_unused]] std::unique_ptr<StreamConnection> self) {
  auto& h = static_cast<AsyncStreamRequestHandler&>(*handler_);
  active_.emplace(ServerAccess::counters(reactor_.server()));
  std::exception_ptr error;
  try {
    h.setup();
    set_up_ = true;
  } catch (...) {
    error = std::current_exception();
  }
  if (set_up_) {
    try {
      co_await h.handle_async();
    } catch (...) {
      error = std::current_exception();
    }
    try {
      co_await async_->flush();  // what it wrote stays written, also after an error
    } catch (...) {
      if (!error) error = std::current_exception();
    }
    try {
      h.finish();
    } catch (...) {
      if (!error) error = std::current_exception();
    }
  }
  if (error) report(error);
}  // `self` goes: the connection closes

// --- restartable blocking handlers ---------------------------------------------

// On a worker: handle() until it returns or parks.
void StreamConnection::run() noexcept {
  std::unique_ptr<StreamConnection> self(this);
  if (!set_up_ && !take()) return;
  if (serve_on_worker()) return self.release()->end_on_worker();
  EventLoop& loop = loop_;
  asio::post(loop.io(), [self = std::move(self)]() mutable { park(std::move(self)); });
}

// setup() the first time, handle(), and finish() unless handle() parked
// (false then). A parked connection is not a request being served.
bool StreamConnection::serve_on_worker() noexcept {
  ActiveRequest active(ServerAccess::counters(reactor_.server()));
  auto& h = static_cast<StreamRequestHandler&>(*handler_);
  if (!set_up_) {
    try {
      h.setup();
      set_up_ = true;
    } catch (...) {
      report(std::current_exception());
      return true;
    }
  }
  std::exception_ptr error;
  try {
    h.handle();
  } catch (const Parked&) {
    return false;
  } catch (...) {
    error = std::current_exception();
  }
  try {
    h.finish();
  } catch (...) {
    if (!error) error = std::current_exception();
  }
  if (error) report(error);
  return true;
}

// A descriptor lent to Asio is given back on its loop before it closes.
void StreamConnection::end_on_worker() {
  std::unique_ptr<StreamConnection> self(this);
  if (!async_) return;  // closes here
  EventLoop& loop = loop_;
  asio::post(loop.io(), [self = std::move(self)] {});
}

// On the loop: wait for the next bytes without a thread.
void StreamConnection::park(std::unique_ptr<StreamConnection> self) {
  if (!self->lend_to_loop()) return;
  ActiveConnection& node = self->node();
  if (node.first_request_read.load()) self->async_->set_first_request_deadline({});
  node.idle.store(true);        // seq_cst, paired with the drain's store then scan
  if (node.draining->load()) {  // draining: the worker's reader sees the end at once
    node.idle.store(false, std::memory_order_relaxed);
    return resubmit(std::move(self));
  }
  AsyncConnection& async = *self->async_;
  async.wait_readable([self = std::move(self)](const asio::error_code&) mutable {
    // Lost to the drain: its reader sees the end without taking a byte.
    if (!self->node().idle.exchange(false)) self->node().cut.store(true);
    // Silent past the idle timeout: its reader throws errc::timed_out, as a blocking read would.
    if (self->async_->read_expired()) self->node().expired.store(true);
    resubmit(std::move(self));
  });
}

void StreamConnection::resubmit(std::unique_ptr<StreamConnection> self) {
  try {
    self->reactor_.workers().submit(*self);
    self.release();
  } catch (...) {
    self->report(std::current_exception());  // no worker to serve it: it closes
  }
}

}  // namespace switchboard::detail
