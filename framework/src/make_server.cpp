#include "switchboard/make_server.hpp"

#include <sys/socket.h>

#include <stdexcept>
#include <string>

#include "switchboard/forking.hpp"
#include "switchboard/reactor.hpp"
#include "switchboard/thread_pool.hpp"
#include "switchboard/threading.hpp"

namespace switchboard {
namespace {

constexpr std::string_view transport_names[] = {"tcp", "udp", "unix", "unix-dgram"};
constexpr std::string_view policy_names[] = {"serial", "threading", "pool", "forking", "reactor"};

template <class Enum, std::size_t N>
Enum parse(std::string_view name, const std::string_view (&names)[N], const char* what) {
  std::string valid;
  for (std::size_t i = 0; i < N; ++i) {
    if (names[i] == name) return static_cast<Enum>(i);
    valid += (i ? ", " : "") + std::string(names[i]);
  }
  throw std::invalid_argument("unknown " + std::string(what) + " '" + std::string(name) +
                              "' (expected one of: " + valid + ")");
}

template <class Server>
std::unique_ptr<BaseServer> with_policy(Policy policy, const Address& a, HandlerFactory f,
                                        ServerOptions o) {
  switch (policy) {
    case Policy::serial:
      return std::make_unique<Server>(a, std::move(f), std::move(o));
    case Policy::threading:
      return std::make_unique<ThreadingMixIn<Server>>(a, std::move(f), std::move(o));
    case Policy::pool:
      return std::make_unique<ThreadPoolMixIn<Server>>(a, std::move(f), std::move(o));
    case Policy::forking:
      return std::make_unique<ForkingMixIn<Server>>(a, std::move(f), std::move(o));
    case Policy::reactor:
      return std::make_unique<ReactorMixIn<Server>>(a, std::move(f), std::move(o));
  }
  throw std::invalid_argument("unknown policy");
}

// The Unix servers take a path; give them one through a subclass that takes an Address.
template <class Base>
struct ByAddress : Base {
  ByAddress(const Address& a, HandlerFactory f, ServerOptions o)
      : Base(a.path(), std::move(f), std::move(o)) {}
};

}  // namespace

Transport parse_transport(std::string_view name) {
  return parse<Transport>(name, transport_names, "protocol");
}
Policy parse_policy(std::string_view name) { return parse<Policy>(name, policy_names, "policy"); }
std::string_view to_string(Transport t) { return transport_names[static_cast<int>(t)]; }
std::string_view to_string(Policy p) { return policy_names[static_cast<int>(p)]; }
bool is_stream(Transport t) { return t == Transport::tcp || t == Transport::unix_stream; }

std::unique_ptr<BaseServer> make_server(Transport transport, Policy policy, const Address& address,
                                        HandlerFactory factory, ServerOptions options) {
  const bool ip = transport == Transport::tcp || transport == Transport::udp;
  if (address.family() != AF_UNSPEC && ip != address.is_ip())  // none: adopt_socket()
    throw std::invalid_argument(std::string(to_string(transport)) + " needs " +
                                (ip ? "a host and port" : "a socket path"));
  switch (transport) {
    case Transport::tcp:
      return with_policy<TCPServer>(policy, address, std::move(factory), std::move(options));
    case Transport::udp:
      return with_policy<UDPServer>(policy, address, std::move(factory), std::move(options));
    case Transport::unix_stream:
      return with_policy<ByAddress<UnixStreamServer>>(policy, address, std::move(factory),
                                                      std::move(options));
    case Transport::unix_datagram:
      return with_policy<ByAddress<UnixDatagramServer>>(policy, address, std::move(factory),
                                                        std::move(options));
  }
  throw std::invalid_argument("unknown protocol");
}

std::unique_ptr<BaseServer> make_server(Transport transport, Policy policy, Socket socket,
                                        HandlerFactory factory, ServerOptions options,
                                        bool borrow) {
  const bool ip = transport == Transport::tcp || transport == Transport::udp;
  // The kind of address, for adopt_socket()'s check: IP or Unix, no address to bind.
  int family = AF_UNSPEC;
  socklen_t len = sizeof family;
  ::getsockopt(socket.fd(), SOL_SOCKET, SO_DOMAIN, &family, &len);  // else adopt_socket() says why
  const bool its_ip = family == AF_INET || family == AF_INET6;
  if ((its_ip || family == AF_UNIX) && its_ip != ip)
    throw std::invalid_argument("adopt_socket(): descriptor " + std::to_string(socket.fd()) +
                                " is " + (ip ? "a Unix" : "an IP") + " socket; " +
                                std::string(to_string(transport)) + " needs " +
                                (ip ? "an IP" : "a Unix") + " socket");
  options.bind_and_activate = false;
  auto server = make_server(transport, policy, Address(), std::move(factory), std::move(options));
  server->adopt_socket(std::move(socket), borrow);
  return server;
}

}  // namespace switchboard
