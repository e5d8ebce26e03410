#pragma once
// Coroutine handlers (C++20, Asio's awaitable): handle_async() co_awaits the
// reads and writes of its connection. Under the reactor policy thousands of
// them share one event-loop thread, and an idle connection costs a socket and
// a small buffer. Under any other policy handle() runs the coroutine to the
// end on the policy's thread, with an io_context of its own: the same handler
// serves under every policy.
//
//   class Echo : public switchboard::AsyncStreamRequestHandler {
//     asio::awaitable<void> handle_async() override {
//       for (std::string line = co_await rfile.readline(); !line.empty();
//            line = co_await rfile.readline())
//         co_await wfile.write(line);
//     }
//   };
//   switchboard::ReactorTCPServer server({"127.0.0.1", 9999}, switchboard::handler<Echo>);
//
// Unlike switchboard.hpp, this header includes Asio (standalone, Debian's
// libasio-dev): link switchboard::asio, which find_package(switchboard)
// defines when Asio is installed, and build with the Asio the library was built with.
//
// A handler runs on one loop thread: it must not block it (no blocking calls,
// no sleeps; co_await instead), and it does one operation at a time on its
// connection. Timeouts (options().timeout, write_timeout,
// first_request_timeout), max_line and the drain apply as they do to
// StreamRequestHandler. With GCC 12, keep co_await out of && and || operands
// and loop conditions: the compiler miscompiles them (the loop form above is fine).

#include <asio/awaitable.hpp>
#include <cstddef>
#include <string>
#include <string_view>

#include "switchboard/handler.hpp"
#include "switchboard/stream.hpp"

namespace switchboard {
class AsyncStreamRequestHandler;
namespace detail {
class AsyncConnection;

/// Points a coroutine handler's rfile and wfile at its connection, for a scope.
class BoundStreams {
 public:
  BoundStreams(AsyncStreamRequestHandler& handler, AsyncConnection& connection);
  ~BoundStreams();
  BoundStreams(const BoundStreams&) = delete;
  BoundStreams& operator=(const BoundStreams&) = delete;

 private:
  AsyncStreamRequestHandler& handler_;
};
}  // namespace detail

/// The reading side of a coroutine handler's connection, buffered. Before it
/// waits for input it flushes the handler's wfile. Its handler's coroutine only.
class AsyncStreamReader {
 public:
  /// The next line with its '\n'; the last line may lack one; "" at end of
  /// input. Throws LineTooLong if a line (with its '\n') exceeds
  /// options().max_line (nothing of it is returned), std::system_error on a
  /// failed read (errc::timed_out after options().timeout of silence).
  asio::awaitable<std::string> readline();
  /// readline() without the copy: the line in the reader's buffer, valid
  /// until the next read on this reader.
  asio::awaitable<std::string_view> readline_view();
  /// Exactly `n` bytes, fewer only at end of input.
  asio::awaitable<std::string> read(std::size_t n);
  /// What is buffered, or what one receive brings (at most `max`); "" at end of input.
  asio::awaitable<std::string> read_some(std::size_t max = 64 * 1024);
  /// read_some() without the copy: valid until the next read on this reader.
  asio::awaitable<std::string_view> read_some_view(std::size_t max = 64 * 1024);
  /// Bytes buffered and not yet returned.
  std::size_t buffered() const;

 private:
  friend class detail::BoundStreams;
  detail::AsyncConnection* conn_ = nullptr;
};

/// The writing side, buffered up to options().write_buffer. Its handler's
/// coroutine only.
class AsyncStreamWriter {
 public:
  /// Buffers `data` (which must live until the co_await returns), sending
  /// first if the buffer would overflow; large writes go out uncopied. Waits
  /// as long as the client takes to read, up to options().write_timeout.
  /// Throws std::system_error (EPIPE, ECONNRESET, errc::timed_out).
  asio::awaitable<void> write(std::string_view data);
  /// Sends what is buffered.
  asio::awaitable<void> flush();
  /// Bytes buffered and not yet sent.
  std::size_t buffered() const;

 private:
  friend class detail::BoundStreams;
  detail::AsyncConnection* conn_ = nullptr;
};

/// A connection served by a coroutine. setup() and finish() are as for any
/// handler; between them handle_async() is awaited and wfile flushed (also
/// when handle_async() threw: what it wrote stays written).
class AsyncStreamRequestHandler : public BaseRequestHandler {
 public:
  static constexpr bool is_coroutine_handler = true;  ///< the reactor awaits it on a loop
  AsyncStreamRequestHandler() { kind_ = HandlerKind::coroutine; }
  /// Refuses a datagram server.
  void setup() override;
  /// Serves the connection. Its loop's thread (the reactor), or the policy's thread.
  virtual asio::awaitable<void> handle_async() = 0;
  /// Under policies other than the reactor: runs handle_async() to the end on
  /// this thread (an io_context of its own), then flushes wfile.
  void handle() final;

  AsyncStreamReader rfile;
  AsyncStreamWriter wfile;
};

/// One datagram served by a coroutine: as DatagramRequestHandler (packet(),
/// rfile reads it, what is written to wfile goes back as one datagram), with
/// handle_async() in place of handle(). Under the reactor it runs on the loop
/// that received the datagram, and replies of a batch go out in one
/// sendmmsg(); the loop takes its next datagram when handle_async() returns,
/// so a handler that awaits something slow holds up its loop's datagrams
/// (co_spawn the slow part, or use a blocking DatagramRequestHandler, which
/// the reactor serves on its workers).
class AsyncDatagramRequestHandler : public DatagramRequestHandler {
 public:
  static constexpr bool is_coroutine_handler = true;  ///< the reactor awaits it on a loop
  AsyncDatagramRequestHandler() { kind_ = HandlerKind::coroutine; }
  /// Serves the datagram.
  virtual asio::awaitable<void> handle_async() = 0;
  /// Under policies other than the reactor: runs handle_async() to the end on this thread.
  void handle() final;
};

}  // namespace switchboard
