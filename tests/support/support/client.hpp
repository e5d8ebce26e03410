#pragma once
// A loopback client for black-box tests: TCP, UDP, Unix stream and Unix
// datagram, every wait bounded. Failures throw std::system_error (GoogleTest
// reports them as the test's failure), timeouts included (errc::timed_out).

#include <cstdint>
#include <string>
#include <string_view>

#include "support/deadline.hpp"
#include "support/fd.hpp"

namespace switchboard::test {

class Client {
 public:
  /// Connects to `host` ("127.0.0.1", "::1") and `port`; ECONNREFUSED and the like throw.
  static Client tcp(const std::string& host, std::uint16_t port, Duration timeout = kTimeout);
  /// A UDP socket connected to the server, so that a closed port reports ECONNREFUSED.
  static Client udp(const std::string& host, std::uint16_t port);
  static Client unix_stream(const std::string& path, Duration timeout = kTimeout);
  /// Bound to `client_path` (a server can only answer a named Unix datagram socket).
  static Client unix_datagram(const std::string& server_path, const std::string& client_path);

  int fd() const { return fd_.get(); }

  /// Sends all of `data` (a stream) or `data` as one datagram.
  void send_all(std::string_view data);
  /// shutdown(SHUT_WR): the peer reads end of file.
  void shutdown_write();

  /// The next line with its '\n'; at end of stream what remains (maybe "").
  std::string recv_line(Duration timeout = kTimeout);
  /// The next `n` bytes, fewer only if the stream ends first (no newline
  /// needed: for servers of bytes).
  std::string recv_exactly(std::size_t n, Duration timeout = kTimeout);
  /// Everything until the peer closes; a reset also counts as the end (see was_reset()).
  std::string recv_until_eof(Duration timeout = kTimeout);
  /// One datagram.
  std::string recv_datagram(Duration timeout = kTimeout);
  /// True if the stream ended with ECONNRESET rather than end of file.
  bool was_reset() const { return reset_; }

 private:
  explicit Client(UniqueFd fd) : fd_(std::move(fd)) {}
  bool fill(const Deadline& deadline);  // false at end of stream

  UniqueFd fd_;
  std::string buffer_;
  bool reset_ = false;
};

/// A socket bound to `host` port 0 (and listening, for SOCK_STREAM unless told
/// not to): a port held busy, or one that refuses connections.
struct BoundSocket {
  UniqueFd fd;
  std::uint16_t port = 0;
};
BoundSocket bind_loopback(int type, const std::string& host = "127.0.0.1", bool listen = true);
/// A Unix socket bound to `path`; once it is closed the file stays behind, stale.
UniqueFd bind_unix(const std::string& path, int type);
/// Whether ::1 can be bound here (some containers have no IPv6 loopback).
bool ipv6_loopback_available();

}  // namespace switchboard::test
