#pragma once
// Buffered reading and writing on a connection (or, for datagrams, on memory).
// The reader flushes its tied writer before it waits for input, so a handler
// that writes a reply and reads the next request never stalls on its own
// buffer, and pipelined replies go out in one send.

#include <chrono>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

#include "switchboard/detail/line_buffer.hpp"

namespace switchboard {

class Socket;
namespace detail {
struct ActiveConnection;
}

/// Thrown by the reader of a restartable handler served by the reactor policy, at a request
/// boundary with nothing buffered and nothing to read: it unwinds handle() so that the connection
/// waits on the event loop, not on a thread, and handle() runs again when bytes arrive.
/// Deliberately not a std::exception: a handler must let it pass (a
/// `catch (...)` must rethrow it).
struct Parked {};

/// readline() met a line longer than its limit; nothing of it was returned.
class LineTooLong : public std::runtime_error {
 public:
  explicit LineTooLong(std::size_t limit);
  std::size_t limit() const { return limit_; }

 private:
  std::size_t limit_;
};

class StreamWriter {
 public:
  StreamWriter() = default;
  /// Writes to `socket`, or only to memory when it is null.
  explicit StreamWriter(Socket* socket, std::size_t buffer_size = 64 * 1024);

  /// Buffers `data`, sending when the buffer fills. Throws std::system_error.
  void write(std::string_view data);
  /// Sends what is buffered. Throws std::system_error.
  void flush();
  /// Whether write() was called at all (an empty write counts).
  bool written() const { return written_; }
  /// What is buffered (memory mode: everything written).
  const std::string& buffer() const { return buffer_; }

 private:
  Socket* socket_ = nullptr;
  std::string buffer_;
  std::size_t buffer_size_ = 0;
  bool written_ = false;
};

class StreamReader {
 public:
  StreamReader() = default;
  /// Reads from `socket`, flushing `tie` (may be null) before each wait.
  /// `connection` (may be null) is where the server sees that this reader is
  /// idle at a request boundary, and how the policy waits there.
  StreamReader(Socket* socket, StreamWriter* tie, std::size_t max_line,
               detail::ActiveConnection* connection = nullptr);
  /// Reads `data` held in memory (a datagram).
  StreamReader(std::string_view data, std::size_t max_line);

  /// The next line with its '\n'; the last line may lack one; "" at end of input.
  /// Throws LineTooLong if a line (with its '\n') exceeds the limit, and
  /// std::system_error (ECONNABORTED) if the server cut the connection at its
  /// close deadline: a line cut short is never returned as the last one.
  std::string readline();
  /// Exactly `n` bytes, fewer only at end of input.
  std::string read(std::size_t n);
  /// What is buffered, or what one receive brings (at most `max`); "" at end of input.
  std::string read_some(std::size_t max = 64 * 1024);
  /// Until the first request has been read (a line, read(n) or read_some()
  /// returned), waiting for input ends at `deadline` with errc::timed_out:
  /// a client that connects and dawdles cannot hold the connection.
  void set_first_request_deadline(std::chrono::steady_clock::time_point deadline) {
    deadline_ = deadline;
  }
  /// Bytes buffered and not yet returned.
  std::size_t buffered() const { return buffer_.buffered(); }
  std::size_t max_line() const { return buffer_.max_line(); }

 private:
  bool fill();  // one receive into the buffer; false at end of input
  std::size_t receive(char* into, std::size_t size, bool boundary);
  std::string take(std::size_t n);  // the next n buffered bytes: a request read

  Socket* socket_ = nullptr;
  StreamWriter* tie_ = nullptr;
  detail::ActiveConnection* connection_ = nullptr;
  detail::LineBuffer buffer_{0, 0};
  bool eof_ = false;
  std::chrono::steady_clock::time_point deadline_{};  // first request; epoch = none
};

}  // namespace switchboard
