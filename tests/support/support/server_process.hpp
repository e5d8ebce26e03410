#pragma once
// A sample server run as a child process: started, its "listening on URL"
// line (the samples' contract, in the README) parsed, stopped by signal.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "support/process.hpp"

namespace switchboard::test {

/// What "listening on URL" says.
struct Listening {
  std::string url;     ///< "tcp://127.0.0.1:4242", "unix:/tmp/x.sock", ...
  std::string scheme;  ///< "tcp", "udp", "unix", "unix-dgram"
  std::string host;    ///< without brackets: "127.0.0.1", "::1"
  std::uint16_t port = 0;
  std::string path;  ///< Unix sockets
};

/// Parses "listening on URL"; nullopt if the line is anything else.
std::optional<Listening> parse_listening_line(std::string_view line);

struct ServerProcess {
  ChildProcess process;
  Listening listening;
};

/// Starts `program` with `args` and waits for its listening line. Throws
/// std::runtime_error, with the child's stderr, if another line or none came.
ServerProcess start_server(const std::string& program, const std::vector<std::string>& args,
                           Duration timeout = kTimeout);
/// The same, spawned with `options` (stderr to a file, ...).
ServerProcess start_server(const std::string& program, const std::vector<std::string>& args,
                           const SpawnOptions& options, Duration timeout = kTimeout);

}  // namespace switchboard::test
