#include "handler_run.hpp"

#include <cerrno>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include "connections.hpp"
#include "reactor/reply_sink.hpp"

namespace switchboard::detail {
namespace {

// The run whose finish_request() this thread is in: the base finish_request()
// serves it (an override may wrap the call, on the same thread).
thread_local HandlerRun* current = nullptr;

bool is_errno(const std::system_error& e, std::initializer_list<int> values) {
  if (e.code().category() != std::generic_category()) return false;
  for (int v : values)
    if (e.code().value() == v) return true;
  return false;
}

}  // namespace

HandlerRun::HandlerRun(BaseServer& server, Request& request, Mode mode,
                       std::unique_ptr<BaseRequestHandler> made)
    : server_(server), request_(request), mode_(mode), handler_(std::move(made)) {
  if (handler_) handler_->request_ = &request_;  // made before the request moved here
}

std::unique_ptr<BaseRequestHandler> HandlerRun::make(BaseServer& server, Request& request) {
  std::unique_ptr<BaseRequestHandler> h = server.factory_();
  if (!h) throw std::logic_error("handler factory returned no handler");
  h->request_ = &request;
  h->server_ = &server;
  return h;
}

void HandlerRun::start() noexcept {
  if (request_.entry) {
    // Drained while it waited for a worker, with nothing sent: already ended.
    if (request_.entry->ended.load()) return;
    request_.entry->started.store(true);
  }
  // A forked child's request counts as its process: a child killed mid-request
  // must not leave `active` raised in the counters it shares with the parent.
  if (!server_.in_child_) active_.emplace(*server_.counters_);
  HandlerRun* outer = std::exchange(current, this);
  try {
    server_.finish_request(request_);
  } catch (...) {
    fail(std::current_exception());
  }
  current = outer;
  if (parked_) active_.reset();  // a parked connection is not a request being served
}

void HandlerRun::serve(BaseServer& server, Request& request) {
  if (current && &current->request_ == &request && &current->server_ == &server)
    return current->serve();
  // finish_request() called outside a run: serve it here, errors thrown.
  HandlerRun run(server, request);
  run.done_ = run.closed_ = true;  // its caller reports and closes, as it would have
  run.serve();
}

void HandlerRun::serve() {
  if (!handler_) handler_ = make(server_, request_);
  handler_->setup();
  set_up_ = true;
  if (mode_ == Mode::awaited) return;  // its loop awaits handle_async()
  run_handle();
  if (!parked_) finish_once();
}

// handle(), and finish() if it threw (that error is the one to report).
void HandlerRun::run_handle() {
  park_thrown_ = false;
  try {
    handler_->handle();
    if (park_thrown_)
      throw std::logic_error(
          "a restartable handler caught switchboard::Parked and did not rethrow it (a catch (...) "
          "must rethrow); its connection ends");
  } catch (const Parked&) {
    parked_ = true;
  } catch (...) {
    try {
      finish_once();
    } catch (...) {
    }
    throw;
  }
}

void HandlerRun::finish_once() {
  if (!set_up_ || std::exchange(finished_, true)) return;
  handler_->finish();
}

void HandlerRun::resume() noexcept {
  parked_ = false;
  active_.emplace(*server_.counters_);
  try {
    run_handle();
    if (!parked_) finish_once();
  } catch (...) {
    fail(std::current_exception());
  }
  if (parked_) active_.reset();
}

void HandlerRun::fail(std::exception_ptr error) noexcept {
  if (!error_) error_ = std::move(error);
}

void HandlerRun::done() noexcept {
  if (std::exchange(done_, true)) return;
  try {
    finish_once();
  } catch (...) {
    fail(std::current_exception());
  }
  handler_.reset();  // the handler goes before its connection closes
  if (request_.entry && request_.entry->cut.load()) {
    // The server's doing, not the handler's: counted when it was cut.
  } else if (error_) {
    report(server_, request_, error_);
  }
  active_.reset();
}

void HandlerRun::close() noexcept {
  if (std::exchange(closed_, true)) return;
  try {
    server_.shutdown_request(request_);
  } catch (...) {
  }
}

void HandlerRun::report(BaseServer& server, const Request& request,
                        std::exception_ptr error) noexcept {
  Counters& c = *server.counters_;
  try {
    std::rethrow_exception(error);
  } catch (const std::system_error& e) {
    if (is_errno(e, {ETIMEDOUT})) return Counters::bump(c.timed_out);
    if (is_errno(e, {EPIPE, ECONNRESET, ENOTCONN})) return Counters::bump(c.peer_resets);
  } catch (...) {
  }
  Counters::bump(c.handler_errors);
  try {
    std::rethrow_exception(error);
  } catch (...) {
    try {
      server.handle_error(request);  // inside the catch: current_exception() is the error
    } catch (...) {
    }
  }
}

void HandlerRun::dropped(BaseServer& server, const Request& request, std::size_t size) noexcept {
  Counters::bump(server.counters_->dropped_datagrams);
  try {
    throw std::length_error("datagram of " + std::to_string(size) +
                            " bytes exceeds max_datagram (" +
                            std::to_string(server.options().max_datagram) + "); dropped");
  } catch (...) {
    try {
      server.handle_error(request);
    } catch (...) {
    }
  }
}

HandlerKind HandlerRun::kind_of(const BaseRequestHandler& handler) { return handler.kind_; }

void HandlerRun::reply_to(ReplySink* sink) noexcept {
  static_cast<DatagramRequestHandler&>(*handler_).sink_ = sink;
}

}  // namespace switchboard::detail
