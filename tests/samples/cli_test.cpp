// What a server operator sees when something is wrong before serving starts:
// bad flags and unusable addresses give one clear line on stderr, a non-zero
// exit status, and no listening line.

#include <sys/socket.h>

#include <string>
#include <vector>

#include "samples_test.hpp"

namespace switchboard::test {
namespace {

struct BadFlags {
  std::string name;
  std::vector<std::string> args;
  std::string mentions;  // what the message must name
};

void PrintTo(const BadFlags& b, std::ostream* os) { *os << b.name; }

// Runs echo_server, expecting it to refuse to start; returns its stderr.
std::string expect_refusal(const std::vector<std::string>& args) {
  ChildProcess server = ChildProcess::spawn(kEchoServer, args);
  const auto status = server.wait();
  if (!status) {
    ADD_FAILURE() << "echo_server is still running; stdout: " << server.drain_stdout();
    return {};
  }
  EXPECT_EQ(status->signal, 0) << *status;
  EXPECT_NE(status->code, 0) << *status;
  EXPECT_EQ(server.drain_stdout().find("listening on"), std::string::npos);
  return server.drain_stderr();
}

class EchoServerBadFlags : public testing::TestWithParam<BadFlags> {};

TEST_P(EchoServerBadFlags, ExitsWithOneLineOnStderr) {
  const BadFlags& bad = GetParam();
  std::vector<std::string> args = bad.args;
  const bool sets_port = std::find(args.begin(), args.end(), "--port") != args.end();
  if (!sets_port) args.insert(args.end(), {"--port", "0"});  // never 9999 if it wrongly starts

  const std::string err = expect_refusal(args);
  ASSERT_FALSE(err.empty());
  EXPECT_EQ(err.find('\n'), err.size() - 1) << "not one line: " << err;
  EXPECT_NE(err.find(bad.mentions), std::string::npos) << err;
}

INSTANTIATE_TEST_SUITE_P(
    Samples, EchoServerBadFlags,
    testing::Values(
        BadFlags{"unknown_proto", {"--proto", "sctp"}, "sctp"},
        BadFlags{"unknown_policy", {"--policy", "bogus"}, "bogus"},
        BadFlags{"negative_port", {"--port", "-1"}, "--port"},
        BadFlags{"port_too_big", {"--port", "70000"}, "--port"},
        BadFlags{"port_not_a_number", {"--port", "abc"}, "--port"},
        BadFlags{"zero_threads", {"--threads", "0"}, "--threads"},
        BadFlags{"negative_threads", {"--threads", "-3"}, "--threads"},
        BadFlags{"zero_max_queued", {"--max-queued", "0"}, "--max-queued"},
        BadFlags{"unknown_overload", {"--overload", "maybe"}, "maybe"},
        BadFlags{"zero_max_line", {"--max-line", "0"}, "--max-line"},
        BadFlags{"negative_idle_timeout", {"--idle-timeout", "-1"}, "--idle-timeout"},
        BadFlags{"negative_write_timeout", {"--write-timeout", "-0.5"}, "--write-timeout"},
        BadFlags{"nan_drain_timeout", {"--drain-timeout", "nan"}, "--drain-timeout"},
        BadFlags{"zero_max_datagram", {"--max-datagram", "0"}, "--max-datagram"},
        BadFlags{"negative_max_connections", {"--max-connections", "-1"}, "--max-connections"},
        BadFlags{"negative_stats_interval", {"--stats-interval", "-2"}, "--stats-interval"},
        BadFlags{"negative_first_request_timeout",
                 {"--first-request-timeout", "-1"},
                 "--first-request-timeout"},
        BadFlags{"unix_without_path", {"--proto", "unix"}, "--path"},
        BadFlags{"unknown_flag", {"--no-such-flag"}, "--no-such-flag"}),
    [](const auto& p) { return p.param.name; });

class EchoServerPortInUse : public testing::TestWithParam<std::string> {};

TEST_P(EchoServerPortInUse, ExitsNamingThePort) {
  const std::string proto = GetParam();
  const BoundSocket taken = bind_loopback(proto == "tcp" ? SOCK_STREAM : SOCK_DGRAM);
  const std::string port = std::to_string(taken.port);
  const std::string err = expect_refusal({"--proto", proto, "--port", port});
  EXPECT_NE(err.find(port), std::string::npos) << err;
  EXPECT_NE(err.find("in use"), std::string::npos) << err;
}

INSTANTIATE_TEST_SUITE_P(Samples, EchoServerPortInUse, testing::Values("tcp", "udp"));

TEST(SamplesEchoServer, HelpPrintsUsageAndExitsZero) {
  ChildProcess server = ChildProcess::spawn(kEchoServer, {"--help"});
  const auto status = server.wait();
  ASSERT_TRUE(status);
  EXPECT_TRUE(status->exited(0)) << *status;
  const std::string out = server.drain_stdout();
  for (const char* flag :
       {"--proto", "--host", "--port", "--path", "--policy", "--threads", "--max-queued",
        "--overload", "--max-line", "--idle-timeout", "--write-timeout", "--drain-timeout",
        "--max-datagram", "--max-connections", "--stats-interval", "--first-request-timeout"})
    EXPECT_NE(out.find(flag), std::string::npos) << flag;
}

}  // namespace
}  // namespace switchboard::test
