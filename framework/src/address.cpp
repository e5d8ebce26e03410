#include "switchboard/address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <asio/io_context.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/tcp.hpp>
#include <cstring>
#include <stdexcept>

namespace switchboard {
namespace {

asio::ip::address parse_host(std::string_view host) {
  if (host.empty()) return asio::ip::address_v4::any();
  std::string text(host);
  if (text.size() > 2 && text.front() == '[' && text.back() == ']')
    text = text.substr(1, text.size() - 2);
  asio::error_code ec;
  auto address = asio::ip::make_address(text, ec);
  if (!ec) return address;
  // A name: resolve it now, preferring what the resolver lists first.
  asio::io_context io;
  asio::ip::tcp::resolver resolver(io);
  auto results = resolver.resolve(text, "", ec);
  if (ec || results.empty())
    throw std::invalid_argument("cannot resolve host '" + text + "': " + ec.message());
  return results.begin()->endpoint().address();
}

}  // namespace

Address::Address(std::string_view host, std::uint16_t port) {
  const auto ip = parse_host(host);
  if (ip.is_v4()) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    const auto bytes = ip.to_v4().to_bytes();
    std::memcpy(&sin.sin_addr, bytes.data(), bytes.size());
    std::memcpy(&storage_, &sin, sizeof sin);
    size_ = sizeof sin;
  } else {
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(port);
    const auto v6 = ip.to_v6();
    const auto bytes = v6.to_bytes();
    std::memcpy(&sin6.sin6_addr, bytes.data(), bytes.size());
    sin6.sin6_scope_id = v6.scope_id();
    std::memcpy(&storage_, &sin6, sizeof sin6);
    size_ = sizeof sin6;
  }
}

Address Address::unix_path(std::string_view path) {
  sockaddr_un sun{};
  if (path.empty()) throw std::invalid_argument("Unix socket path is empty");
  if (path.size() >= sizeof sun.sun_path)
    throw std::invalid_argument(
        "Unix socket path is " + std::to_string(path.size()) + " bytes, longer than the " +
        std::to_string(sizeof sun.sun_path - 1) + " that fit in sun_path: " + std::string(path));
  if (path.find('\0') != std::string_view::npos)
    throw std::invalid_argument("Unix socket path contains a NUL byte");
  sun.sun_family = AF_UNIX;
  std::memcpy(sun.sun_path, path.data(), path.size());
  Address address;
  std::memcpy(&address.storage_, &sun, sizeof sun);
  address.size_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  return address;
}

Address Address::from_sockaddr(const sockaddr* sa, socklen_t len) {
  Address address;
  if (len > sizeof address.storage_) len = sizeof address.storage_;
  std::memcpy(&address.storage_, sa, len);
  address.size_ = len;
  if (len < sizeof(sa_family_t)) address.storage_.ss_family = AF_UNSPEC;
  return address;
}

std::string Address::host() const {
  char text[INET6_ADDRSTRLEN] = {};
  if (family() == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, text,
              sizeof text);
  } else if (family() == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, text,
              sizeof text);
  }
  return text;
}

std::uint16_t Address::port() const {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
  if (family() == AF_INET6)
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  return 0;
}

std::string Address::path() const {
  if (!is_unix()) return {};
  const auto* sun = reinterpret_cast<const sockaddr_un*>(&storage_);
  const std::size_t offset = offsetof(sockaddr_un, sun_path);
  if (size_ <= offset || sun->sun_path[0] == '\0') return {};  // unnamed or abstract
  const std::size_t max = std::min<std::size_t>(size_ - offset, sizeof sun->sun_path);
  return std::string(sun->sun_path, strnlen(sun->sun_path, max));
}

std::string Address::to_string() const {
  if (family() == AF_INET) return host() + ":" + std::to_string(port());
  if (family() == AF_INET6) return "[" + host() + "]:" + std::to_string(port());
  if (is_unix()) {
    auto p = path();
    return p.empty() ? "(unnamed)" : p;
  }
  return "(unnamed)";
}

}  // namespace switchboard
