#pragma once
// Shared by the black-box tests of the sample executables: the executables'
// paths (from CMake), the arguments that start a server on a free port or in
// a temporary directory, and a client for whatever the server listens on.

#include <gtest/gtest.h>
#include <signal.h>

#include <string>
#include <vector>

#include "support/client.hpp"
#include "support/process.hpp"
#include "support/server_process.hpp"
#include "support/temp_dir.hpp"

namespace switchboard::test {

inline const std::string kEchoServer = ECHO_SERVER;
inline const std::string kTimestampServer = TIMESTAMP_SERVER;
inline const std::string kTimestampClient = TIMESTAMP_CLIENT;
inline const std::string kCustomHandler = CUSTOM_HANDLER;
inline const std::string kCoroutineEcho = COROUTINE_ECHO;
/// The samples' flags over an echo of lines with magic lines (tests/fault_server).
inline const std::string kFaultServer = FAULT_SERVER;

inline bool is_unix(const std::string& proto) { return proto.starts_with("unix"); }
inline bool is_datagram(const std::string& proto) {
  return proto == "udp" || proto == "unix-dgram";
}

/// --proto and --policy, on port 0 or at a socket file in `dir`.
inline std::vector<std::string> server_args(const std::string& proto, const std::string& policy,
                                            const TempDir& dir) {
  std::vector<std::string> args{"--proto", proto, "--policy", policy};
  if (is_unix(proto)) {
    args.insert(args.end(), {"--path", dir.file("server.sock")});
  } else {
    args.insert(args.end(), {"--port", "0"});
  }
  return args;
}

/// A client of the server that printed `l`; a Unix datagram client binds `name` in `dir`.
inline Client connect_to(const Listening& l, const TempDir& dir,
                         const std::string& name = "client.sock") {
  if (l.scheme == "tcp") return Client::tcp(l.host, l.port);
  if (l.scheme == "udp") return Client::udp(l.host, l.port);
  if (l.scheme == "unix") return Client::unix_stream(l.path);
  return Client::unix_datagram(l.path, dir.file(name));
}

/// SIGTERM (or `sig`), then the contract: exit status 0.
inline void expect_clean_stop(ChildProcess& server, int sig = SIGTERM) {
  const auto status = server.stop(sig);
  ASSERT_TRUE(status) << "still running " << kTimeout.count() << " ms after signal " << sig;
  EXPECT_TRUE(status->exited(0)) << *status << "; stderr: " << server.drain_stderr();
}

/// Test-name suffix: "unix-dgram" -> "unix_dgram".
inline std::string param_name(std::string text) {
  for (char& c : text)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return text;
}

}  // namespace switchboard::test
