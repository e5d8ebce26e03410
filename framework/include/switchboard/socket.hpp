#pragma once
// An owned socket descriptor: closed exactly once, by close() or the destructor.
// I/O is blocking with kernel-side timeouts (SO_RCVTIMEO/SO_SNDTIMEO) so that a
// blocked handler costs no extra syscalls; a non-blocking descriptor also works
// (it waits in poll()), which lets an event loop lend a connection to a worker.

#include <chrono>
#include <cstddef>
#include <string_view>

#include "switchboard/address.hpp"

namespace switchboard {

class Socket {
 public:
  Socket() = default;
  /// Takes ownership of `fd`.
  explicit Socket(int fd) noexcept : fd_(fd) {}
  Socket(Socket&& other) noexcept : fd_(other.release()) {}
  Socket& operator=(Socket&& other) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket() { close(); }

  /// A new close-on-exec socket. Throws std::system_error.
  static Socket open(int family, int type);

  int fd() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  /// Gives up ownership without closing.
  int release() noexcept;
  /// Closes the descriptor if open; safe to call twice.
  void close() noexcept;

  /// Reads at least one byte; 0 means the peer closed its side. Retries EINTR.
  /// Throws std::system_error: errc::timed_out when the read timeout expired,
  /// or the OS error (ECONNRESET, ...).
  std::size_t recv_some(void* data, std::size_t size);
  /// Reads what is there without waiting: 0 at end of input, -1 if nothing is.
  long recv_nowait(void* data, std::size_t size);
  /// Waits, within the read timeout, until bytes or the end of input are
  /// there, taking nothing; true if bytes are. Throws as recv_some() does.
  bool wait_readable();
  /// Waits, within the read timeout, until this socket or `other` is readable,
  /// taking nothing; true if this socket is. Throws as recv_some() does.
  bool wait_readable_or(int other);
  /// Waits until the socket is readable (or at its end); at `deadline`
  /// throws errc::timed_out: no complete request came in time.
  void wait_readable_until(std::chrono::steady_clock::time_point deadline);
  /// Sends all of `data` or throws: no short writes, EINTR-safe, MSG_NOSIGNAL
  /// (a vanished peer is EPIPE, never SIGPIPE).
  void send_all(std::string_view data);

  /// Sends one datagram to `to` (MSG_NOSIGNAL), waiting within the write
  /// timeout for room. Throws std::system_error.
  void send_to(std::string_view data, const Address& to) const;

  /// The address this socket is bound to.
  Address local_address() const;
  /// Sets an int-valued option. Throws std::system_error.
  void set_option(int level, int name, int value);
  /// Sets SO_RCVTIMEO or SO_SNDTIMEO; zero means no timeout.
  void set_timeout(int name, std::chrono::duration<double> timeout);

 private:
  std::size_t recv_waiting(void* data, std::size_t size, int flags);

  int fd_ = -1;
};

/// The std::system_error for errno, with `what` naming the failed operation.
[[noreturn]] void throw_errno(const char* what);
/// The std::system_error for errno `err`.
[[noreturn]] void throw_errno(int err, const char* what);

}  // namespace switchboard
