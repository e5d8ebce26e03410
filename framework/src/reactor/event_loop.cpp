#include "event_loop.hpp"

#include <cstdio>
#include <exception>

namespace switchboard::detail {

// One thread runs it: Asio's per-descriptor locks are off (I/O objects are
// touched on the loop only); the scheduler still locks, so other threads may post.
EventLoop::EventLoop(const ServerOptions& options)
    : io_(ASIO_CONCURRENCY_HINT_UNSAFE_IO), work_(io_.get_executor()), sweeper_(io_, options) {}

EventLoop::~EventLoop() { stop(); }

void EventLoop::start() {
  thread_ = std::thread([this] { run(); });
}

void EventLoop::stop() {
  io_.stop();
  if (thread_.joinable()) thread_.join();
}

void EventLoop::run() noexcept {
  for (;;) {
    try {
      io_.run();
      return;
    } catch (const std::exception& e) {  // the reactor's own handlers catch theirs: a bug
      std::fprintf(stderr, "switchboard: reactor loop: %s\n", e.what());
    } catch (...) {
      std::fprintf(stderr, "switchboard: reactor loop: unknown exception\n");
    }
  }
}

}  // namespace switchboard::detail
