#pragma once
// Picking a transport and a policy by name at run time (samples, benchmarks).

#include <memory>
#include <string_view>

#include "switchboard/server.hpp"
#include "switchboard/socket.hpp"

namespace switchboard {

enum class Transport { tcp, udp, unix_stream, unix_datagram };
enum class Policy { serial, threading, pool, forking, reactor };

/// "tcp", "udp", "unix", "unix-dgram"; throws std::invalid_argument listing the names.
Transport parse_transport(std::string_view name);
/// "serial", "threading", "pool", "forking", "reactor"; throws std::invalid_argument listing the
/// names.
Policy parse_policy(std::string_view name);
std::string_view to_string(Transport transport);
std::string_view to_string(Policy policy);
bool is_stream(Transport transport);

/// The server for `transport` under `policy`, bound to `address` (an IP
/// address for tcp/udp, a path made with Address::unix_path for the others).
/// Throws std::invalid_argument for an address of the wrong kind and
/// std::system_error when binding fails.
std::unique_ptr<BaseServer> make_server(Transport transport, Policy policy, const Address& address,
                                        HandlerFactory factory, ServerOptions options = {});
/// The same, serving on `socket` (BaseServer::adopt_socket(): not bound
/// here, borrowed unless `borrow` is false; options.bind_and_activate is
/// ignored). Throws as adopt_socket() does, std::invalid_argument also for a
/// socket of the other kind (a Unix socket for tcp, ...).
std::unique_ptr<BaseServer> make_server(Transport transport, Policy policy, Socket socket,
                                        HandlerFactory factory, ServerOptions options = {},
                                        bool borrow = true);

}  // namespace switchboard
