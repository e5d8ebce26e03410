#pragma once
// An endpoint a server binds to or a client comes from: an IP address and
// port (IPv4 or IPv6, decided by the address given) or a Unix socket path.

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace switchboard {

class Address {
 public:
  /// The unspecified address (family AF_UNSPEC); what an unbound Unix client has.
  Address() = default;
  /// An IP endpoint. `host` is a literal ("127.0.0.1", "::1"), "" for any IPv4
  /// address, or a name resolved now ("localhost"). Throws std::invalid_argument.
  Address(std::string_view host, std::uint16_t port);
  /// A Unix socket path. Throws std::invalid_argument if it does not fit sun_path.
  static Address unix_path(std::string_view path);
  /// Copies a kernel-filled socket address.
  static Address from_sockaddr(const sockaddr* sa, socklen_t len);

  int family() const { return storage_.ss_family; }
  bool is_ip() const { return family() == AF_INET || family() == AF_INET6; }
  bool is_unix() const { return family() == AF_UNIX; }
  /// The IP address as text, without brackets ("" for non-IP addresses).
  std::string host() const;
  /// The port (0 for non-IP addresses).
  std::uint16_t port() const;
  /// The Unix socket path ("" for unnamed or abstract sockets and non-Unix addresses).
  std::string path() const;
  /// "127.0.0.1:9999", "[::1]:9999", "/run/x.sock", or "(unnamed)".
  std::string to_string() const;

  const sockaddr* data() const { return reinterpret_cast<const sockaddr*>(&storage_); }
  socklen_t size() const { return size_; }

 private:
  sockaddr_storage storage_{};
  socklen_t size_ = 0;
};

}  // namespace switchboard
