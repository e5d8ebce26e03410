#pragma once
// switchboard::cli: a server's main() in one call, with what a real server
// needs around serve_forever(): validated flags turned into ServerOptions,
// SIGINT/SIGTERM blocked before any thread starts, the descriptor limit
// raised, the "listening on URL" line, a drain on the first signal (said on
// stderr, bounded by --drain-timeout, the process ended after it whatever a
// handler does), --stats-interval, and a warning when connections wait long
// for a pool worker. The socket is bound, or inherited and borrowed
// (--fd N, or systemd's socket activation: LISTEN_FDS for this process);
// with NOTIFY_SOCKET set, systemd hears READY=1 after the listening line
// and STOPPING=1 when the drain begins (switchboard/systemd.hpp). The
// sample servers are written on it.
//
//   #include <switchboard/cli.hpp>
//   int main(int argc, char** argv) {
//     return switchboard::cli::run_server(argc, argv, "Upper-case echo",
//                                         switchboard::handler<UpperCase>);
//   }
//
// Link switchboard::cli. The flags are parsed with CLI11, a build dependency
// of this library only: nothing here needs it.

#include <string_view>
#include <utility>

#include "switchboard/handler.hpp"
#include "switchboard/handler_factory.hpp"

namespace switchboard::cli {

/// The handlers a server serves with: blocking ones for every policy, and
/// optionally coroutine ones the reactor policy uses instead. An empty
/// factory is a transport the server does not offer (--proto says so).
struct Handlers {
  HandlerFactory stream;            ///< tcp, unix
  HandlerFactory datagram;          ///< udp, unix-dgram
  HandlerFactory reactor_stream;    ///< --policy reactor, tcp and unix (else `stream`)
  HandlerFactory reactor_datagram;  ///< --policy reactor, udp and unix-dgram (else `datagram`)
  /// The stream handlers read lines (readline()), so the server offers
  /// --max-line; a handler of bytes (echo) has no line to bound.
  bool reads_lines = true;
};

/// Parses the flags, builds the server for the chosen transport and policy
/// with the matching handlers, prints "listening on URL", serves until
/// SIGINT/SIGTERM, drains and returns main()'s exit status: 0 after a
/// signal, 2 for bad flags, 1 when the server cannot start (an address in
/// use, ...), each error one line on stderr. --help prints the flags.
int run_server(int argc, char** argv, std::string_view description, Handlers handlers);

/// A stream server (tcp, unix) with one blocking handler under every policy.
inline int run_server(int argc, char** argv, std::string_view description, HandlerFactory stream) {
  Handlers handlers;
  handlers.stream = std::move(stream);
  return run_server(argc, argv, description, std::move(handlers));
}

/// Stream and datagram handlers, the same under every policy.
inline int run_server(int argc, char** argv, std::string_view description, HandlerFactory stream,
                      HandlerFactory datagram) {
  Handlers handlers;
  handlers.stream = std::move(stream);
  handlers.datagram = std::move(datagram);
  return run_server(argc, argv, description, std::move(handlers));
}

}  // namespace switchboard::cli
