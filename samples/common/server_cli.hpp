#pragma once
// What every sample server shares: its flags (DESIGN.md's sample contract),
// the "listening on URL" line, and a clean stop on SIGINT/SIGTERM.

#include <string_view>

#include "switchboard/server.hpp"

namespace switchboard::samples {

/// Parses the common server flags, builds the server for the chosen transport
/// and policy with `stream` (tcp, unix) or `datagram` (udp, unix-dgram)
/// handlers, prints "listening on URL", serves until SIGINT/SIGTERM, drains and
/// returns main()'s exit status. Errors are one line on stderr and a non-zero status.
int run_server(int argc, char** argv, std::string_view description, HandlerFactory stream,
               HandlerFactory datagram);

}  // namespace switchboard::samples
