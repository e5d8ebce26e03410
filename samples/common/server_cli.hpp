#pragma once
// What every sample server shares: its flags (the README's samples section),
// the "listening on URL" line, and a clean stop on SIGINT/SIGTERM.

#include <string_view>
#include <utility>

#include "switchboard/server.hpp"

namespace switchboard::samples {

/// The handlers a sample serves with: blocking ones for every policy, and
/// optionally coroutine ones the reactor policy uses instead.
struct SampleHandlers {
  HandlerFactory stream;            ///< tcp, unix
  HandlerFactory datagram;          ///< udp, unix-dgram
  HandlerFactory reactor_stream;    ///< --policy reactor, tcp and unix (else `stream`)
  HandlerFactory reactor_datagram;  ///< --policy reactor, udp and unix-dgram (else `datagram`)
  /// The stream handlers read lines (readline()), so the sample offers
  /// --max-line; a handler of bytes (echo) has no line to bound.
  bool reads_lines = true;
};

/// Parses the common server flags, builds the server for the chosen transport
/// and policy with the matching handlers, prints "listening on URL", serves
/// until SIGINT/SIGTERM, drains and returns main()'s exit status. Errors are
/// one line on stderr and a non-zero status (2 for bad flags).
int run_server(int argc, char** argv, std::string_view description, SampleHandlers handlers);
/// run_server() with the same line handlers under every policy.
inline int run_server(int argc, char** argv, std::string_view description, HandlerFactory stream,
                      HandlerFactory datagram) {
  return run_server(argc, argv, description,
                    SampleHandlers{std::move(stream), std::move(datagram), {}, {}});
}

}  // namespace switchboard::samples
