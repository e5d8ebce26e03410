#pragma once
// Internal: a connection on an event loop. It lends its descriptor to Asio
// (the Request keeps owning it) and holds the buffers behind a coroutine
// handler's rfile/wfile, the stamps its loop's sweep reads for timeouts, and
// the wait a parked restartable connection does.
//
// The hot path is what a hand-written epoll loop does: a reply is sent with
// one non-blocking send() and no suspension; a read goes through Asio's
// speculative async_read_some, which after a short read waits for epoll
// instead of trying recv() again (no EAGAIN round trip).

#include <asio/awaitable.hpp>
#include <asio/generic/stream_protocol.hpp>
#include <asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "../connections.hpp"
#include "../counters.hpp"
#include "sweeper.hpp"
#include "switchboard/detail/line_buffer.hpp"

namespace switchboard::detail {

class AsyncConnection final : private Sweeper::Entry {
 public:
  using Socket =
      asio::basic_stream_socket<asio::generic::stream_protocol, asio::io_context::executor_type>;

  /// Borrows `fd`, an accepted stream connection, for `io`'s loop; `node`
  /// (may be null) is where the drain sees it idle. Loop thread.
  /// `family` may be AF_UNSPEC (then asked of the descriptor).
  AsyncConnection(asio::io_context& io, Sweeper& sweeper, int fd, int family,
                  const ServerOptions& options, ActiveConnection* node);
  /// Gives the descriptor back (Asio forgets it; whoever owns it closes it). Loop thread.
  ~AsyncConnection();
  AsyncConnection(const AsyncConnection&) = delete;
  AsyncConnection& operator=(const AsyncConnection&) = delete;

  // The coroutine handler's streams (AsyncStreamReader/Writer forward here).
  asio::awaitable<std::string> readline();
  asio::awaitable<std::string_view> readline_view();
  asio::awaitable<std::string> read(std::size_t n);
  asio::awaitable<std::string> read_some(std::size_t max);
  asio::awaitable<std::string_view> read_some_view(std::size_t max);
  std::size_t buffered() const { return buffer_.buffered(); }
  asio::awaitable<void> write(std::string_view data);
  asio::awaitable<void> flush();
  std::size_t unsent() const { return wbuf_.size() - wsent_; }

  /// A parked connection: calls `done(ec)` once the descriptor is readable,
  /// or with an error once the idle timeout has passed (read_expired()).
  template <class Done>
  void wait_readable(Done&& done) {
    start_wait(reading_, read_since_);
    socket_.async_wait(Socket::wait_read,
                       [this, done = std::forward<Done>(done)](const asio::error_code& ec) mutable {
                         reading_ = false;
                         done(ec);
                       });
  }
  /// The sweep ended the last read wait (idle timeout or first-request deadline).
  bool read_expired() const { return read_expired_ || first_expired_; }
  /// Until the first request has been read, a wait for input ends at
  /// `deadline` (ServerOptions::first_request_timeout); epoch = none.
  void set_first_request_deadline(std::chrono::steady_clock::time_point deadline) {
    first_deadline_ = deadline;
  }
  /// A connection of the reactor's loops: the drain reaches it on this loop
  /// (on_drain()), so at a request boundary it awaits bytes, not readiness.
  void drained_by_loop() { loop_drains_ = true; }
  /// `since` + options.first_request_timeout, or the epoch if there is none.
  static std::chrono::steady_clock::time_point first_request_deadline(
      const ServerOptions& options, std::chrono::steady_clock::time_point since) {
    if (options.first_request_timeout.count() <= 0) return {};
    return since + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                       options.first_request_timeout);
  }

 private:
  struct Receive {
    char* into = nullptr;
    std::size_t room = 0;
    bool wait = false;  // at a boundary with a drain to answer: await readiness, then claim
  };
  template <class Line>
  asio::awaitable<Line> next_line();
  int begin_receive(Receive& r);
  int receive_now(const Receive& r);
  int last_look(const Receive& r);
  ssize_t take_ready(const Receive& r);
  int end_receive(const Receive& r, const asio::error_code& ec, std::size_t n);
  asio::awaitable<bool> fill();
  bool flush_now();
  void clear_unsent() {
    wbuf_.clear();
    wsent_ = 0;
  }
  asio::awaitable<void> send_all(const char* data, std::size_t size);
  std::string take(std::size_t n);
  std::string_view take_view(std::size_t n);
  void start_wait(bool& flag, std::uint64_t& since) {
    flag = true;
    since = sweeper_.now();
  }
  void on_sweep() override;
  void on_drain() override;

  Socket socket_;
  Sweeper& sweeper_;
  ActiveConnection* node_;
  const Seconds timeout_;
  const Seconds write_timeout_;
  const std::size_t write_limit_;

  // Grows while reads fill it, so an idle connection holds only its first small allocation.
  LineBuffer buffer_;
  bool eof_ = false;
  std::string wbuf_;
  std::size_t wsent_ = 0;  // of wbuf_, sent already

  bool loop_drains_ = false;
  bool at_boundary_ = false;      // awaiting the first bytes of a next request
  bool drain_cancelled_ = false;  // on_drain() cancelled that wait
  bool reading_ = false, writing_ = false;
  bool read_expired_ = false, write_expired_ = false, first_expired_ = false;
  std::chrono::steady_clock::time_point first_deadline_{};  // until the first request is read
  std::uint64_t read_since_ = 0, write_since_ = 0;
};

}  // namespace switchboard::detail
