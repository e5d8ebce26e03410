// What a server operator sees when something is wrong before serving starts:
// bad flags and unusable addresses give one clear line on stderr, a non-zero
// exit status, and no listening line.

#include <sys/socket.h>

#include <regex>
#include <string>
#include <vector>

#include "samples_test.hpp"

namespace switchboard::test {
namespace {

struct BadFlags {
  BadFlags(std::string n, std::vector<std::string> a, std::string m, std::string r = "",
           std::string p = kEchoServer)
      : name(std::move(n)),
        args(std::move(a)),
        mentions(std::move(m)),
        range(std::move(r)),
        program(std::move(p)) {}

  std::string name;
  std::vector<std::string> args;
  std::string mentions;  // what the message must name
  std::string range;     // and, for a number out of range, the range
  std::string program;
};

void PrintTo(const BadFlags& b, std::ostream* os) { *os << b.name; }

// Runs `program`, expecting it to refuse to start (with `code`, if given); returns its stderr.
std::string expect_refusal(const std::vector<std::string>& args,
                           const std::string& program = kEchoServer, int code = 0) {
  ChildProcess server = ChildProcess::spawn(program, args);
  const auto status = server.wait();
  if (!status) {
    ADD_FAILURE() << program << " is still running; stdout: " << server.drain_stdout();
    return {};
  }
  EXPECT_EQ(status->signal, 0) << *status;
  EXPECT_NE(status->code, 0) << *status;
  if (code != 0) {
    EXPECT_EQ(status->code, code) << *status;
  }
  EXPECT_EQ(server.drain_stdout().find("listening on"), std::string::npos);
  return server.drain_stderr();
}

class EchoServerBadFlags : public testing::TestWithParam<BadFlags> {};

TEST_P(EchoServerBadFlags, ExitsWithOneLineOnStderr) {
  const BadFlags& bad = GetParam();
  std::vector<std::string> args = bad.args;
  const bool sets_port = std::find(args.begin(), args.end(), "--port") != args.end();
  if (!sets_port) args.insert(args.end(), {"--port", "0"});  // never 9999 if it wrongly starts

  const std::string err = expect_refusal(args, bad.program, 2);
  ASSERT_FALSE(err.empty());
  EXPECT_EQ(err.find('\n'), err.size() - 1) << "not one line: " << err;
  EXPECT_NE(err.find(bad.mentions), std::string::npos) << err;
  EXPECT_NE(err.find(bad.range), std::string::npos) << err;
}

INSTANTIATE_TEST_SUITE_P(
    Samples, EchoServerBadFlags,
    testing::Values(
        BadFlags{"unknown_proto", {"--proto", "sctp"}, "sctp"},
        BadFlags{"unknown_policy", {"--policy", "bogus"}, "bogus"},
        BadFlags{"negative_port", {"--port", "-1"}, "--port"},
        BadFlags{"port_too_big", {"--port", "70000"}, "--port"},
        BadFlags{"port_not_a_number", {"--port", "abc"}, "--port"},
        BadFlags{"zero_threads", {"--threads", "0"}, "--threads", "from 1 to 4096"},
        BadFlags{"negative_threads", {"--threads", "-3"}, "--threads"},
        BadFlags{"too_many_threads", {"--threads", "4097"}, "--threads", "from 1 to 4096"},
        // Once saturated to the largest size_t, and fed to the reactor's vector::reserve.
        BadFlags{"threads_past_64_bits",
                 {"--threads", "99999999999999999999", "--policy", "reactor"},
                 "--threads",
                 "from 1 to 4096"},
        // Once 13 s making threads, then only "Resource temporarily unavailable".
        BadFlags{"hundred_thousand_pool_threads",
                 {"--threads", "100000", "--policy", "pool"},
                 "--threads",
                 "from 1 to 4096"},
        BadFlags{"too_many_loops", {"--loops", "1025"}, "--loops", "from 0 to 1024"},
        BadFlags{"negative_loops", {"--loops", "-1"}, "--loops"},
        BadFlags{"zero_max_children", {"--max-children", "0"}, "--max-children", "from 1 to 4096"},
        BadFlags{"too_many_children",
                 {"--max-children", "4097", "--policy", "forking"},
                 "--max-children",
                 "from 1 to 4096"},
        BadFlags{"zero_max_queued", {"--max-queued", "0"}, "--max-queued", "from 1 to 1000000"},
        BadFlags{
            "max_queued_too_big", {"--max-queued", "1000001"}, "--max-queued", "from 1 to 1000000"},
        BadFlags{"unknown_overload", {"--overload", "maybe"}, "maybe"},
        BadFlags{"zero_max_line",
                 {"--max-line", "0"},
                 "--max-line",
                 "from 1 to 67108864",
                 kTimestampServer},
        BadFlags{"max_line_over_64_mib",
                 {"--max-line", "67108865"},
                 "--max-line",
                 "from 1 to 67108864",
                 kTimestampServer},
        // Bytes have no lines to bound: the flag belongs to line servers.
        BadFlags{"echo_server_has_no_max_line", {"--max-line", "1024"}, "--max-line"},
        BadFlags{"negative_idle_timeout", {"--idle-timeout", "-1"}, "--idle-timeout"},
        BadFlags{"negative_write_timeout", {"--write-timeout", "-0.5"}, "--write-timeout"},
        BadFlags{"nan_drain_timeout", {"--drain-timeout", "nan"}, "--drain-timeout"},
        BadFlags{"drain_timeout_past_the_clock",
                 {"--drain-timeout", "1e12"},
                 "--drain-timeout",
                 "from 0 to 1000000"},
        BadFlags{"zero_max_datagram", {"--max-datagram", "0"}, "--max-datagram"},
        BadFlags{"max_datagram_too_big",
                 {"--max-datagram", "16777217"},
                 "--max-datagram",
                 "from 1 to 16777216"},
        BadFlags{"negative_max_connections", {"--max-connections", "-1"}, "--max-connections"},
        BadFlags{"max_connections_too_big",
                 {"--max-connections", "1000001"},
                 "--max-connections",
                 "from 0 to 1000000"},
        BadFlags{"negative_stats_interval", {"--stats-interval", "-2"}, "--stats-interval"},
        BadFlags{"negative_first_request_timeout",
                 {"--first-request-timeout", "-1"},
                 "--first-request-timeout"},
        BadFlags{"unix_without_path", {"--proto", "unix"}, "--path"},
        BadFlags{"unknown_flag", {"--no-such-flag"}, "--no-such-flag"},
        BadFlags{"negative_queue_wait_warning",
                 {"--queue-wait-warning", "-1"},
                 "--queue-wait-warning",
                 "from 0 to 1000000"},
        // custom_handler, the file users copy, takes the same flags, checked the same way.
        BadFlags{"custom_handler_port_too_big",
                 {"--port", "70000"},
                 "--port",
                 "from 0 to 65535",
                 kCustomHandler},
        BadFlags{"custom_handler_zero_threads",
                 {"--threads", "0", "--policy", "pool"},
                 "--threads",
                 "from 1 to 4096",
                 kCustomHandler},
        // A stream handler only: no datagram transport to offer.
        BadFlags{
            "custom_handler_has_no_udp", {"--proto", "udp"}, "tcp or unix", "", kCustomHandler},
        BadFlags{"timestamp_client_port_too_big",
                 {"--port", "70000"},
                 "--port",
                 "1 to 65535",
                 kTimestampClient},
        BadFlags{"coroutine_echo_port_too_big", {"--port", "70000"}, "--port", "", kCoroutineEcho}),
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

// --help as printed, with each description's wrapped lines joined: what a reader sees.
std::string help_of(const std::string& program) {
  ChildProcess child = ChildProcess::spawn(program, {"--help"});
  const auto status = child.wait();
  EXPECT_TRUE(status && status->exited(0)) << program << " --help did not exit 0";
  return child.drain_stdout();
}

std::string joined(std::string text) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (c == ' ' || c == '\n') {
      space = true;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

// Every flag, and the range of each count, in the usage; --max-line only where lines are read.
TEST(SamplesEchoServer, HelpPrintsUsageAndExitsZero) {
  for (const std::string& program : {kEchoServer, kTimestampServer, kCustomHandler}) {
    const std::string out = joined(help_of(program));
    for (const char* flag : {"--proto",
                             "--host",
                             "--port",
                             "--path",
                             "--policy",
                             "--threads",
                             "--loops",
                             "--max-children",
                             "--max-queued",
                             "--overload",
                             "--idle-timeout",
                             "--write-timeout",
                             "--drain-timeout",
                             "--max-connections",
                             "--stats-interval",
                             "--first-request-timeout",
                             "--queue-wait-warning SECONDS=5",
                             "(0 to 65535)",
                             "(1 to 4096)",
                             "(0 to 1024)",
                             "(1 to 1000000)"})
      EXPECT_NE(out.find(flag), std::string::npos) << program << ": " << flag;
    const bool lines = program != kEchoServer;
    EXPECT_EQ(out.find("--max-line") != std::string::npos, lines) << program << ": " << out;
    // custom_handler serves streams only: no datagram flag.
    const bool datagrams = program != kCustomHandler;
    EXPECT_EQ(out.find("--max-datagram") != std::string::npos, datagrams) << program << ": " << out;
  }
}

// Each executable names itself as it is called, not by the path it was started from.
TEST(SamplesCli, UsageNamesTheExecutableNotItsPath) {
  for (const std::string& program :
       {kEchoServer, kTimestampServer, kTimestampClient, kCustomHandler, kCoroutineEcho}) {
    ASSERT_TRUE(program.starts_with('/')) << program;
    const std::string name = program.substr(program.rfind('/') + 1);
    const std::string out = help_of(program);
    EXPECT_NE(out.find("\nUsage: " + name + " [OPTIONS]\n"), std::string::npos) << out;
  }
}

// 80 columns, and each flag's text begins on the flag's own line (wrapped
// lines follow, indented), never pushed to a line of its own.
TEST(SamplesCli, HelpFitsEightyColumnsWithTextBesideEachFlag) {
  const std::regex flag_with_text(R"(^  -\S+( \S+)? {2,}\S.*)");
  for (const std::string& program :
       {kEchoServer, kTimestampServer, kTimestampClient, kCustomHandler, kCoroutineEcho}) {
    const std::string out = help_of(program);
    std::size_t flags = 0;
    for (std::size_t at = 0, nl; (nl = out.find('\n', at)) != std::string::npos; at = nl + 1) {
      const std::string line = out.substr(at, nl - at);
      EXPECT_LE(line.size(), 80u) << program << ": " << line;
      if (!line.starts_with("  -")) continue;
      ++flags;
      EXPECT_TRUE(std::regex_match(line, flag_with_text)) << program << ": " << line;
    }
    EXPECT_GE(flags, 3u) << out;
  }
  const std::string out = help_of(kEchoServer);
  EXPECT_NE(out.find("\n  --port PORT=9999 "), std::string::npos) << out;
}

// fe80::/10 exists on every interface: without a scope id the kernel cannot
// tell which is meant, and says only "Invalid argument". The server says more.
TEST(SamplesCli, LinkLocalAddressWithoutScopeIdIsExplained) {
  if (!ipv6_loopback_available()) GTEST_SKIP() << "no IPv6 here";
  for (const char* proto : {"tcp", "udp"}) {
    const std::string err = expect_refusal({"--proto", proto, "--host", "fe80::1", "--port", "0"});
    EXPECT_EQ(err.find('\n'), err.size() - 1) << "not one line: " << err;
    EXPECT_NE(err.find("Invalid argument"), std::string::npos) << err;
    EXPECT_NE(err.find("a link-local address needs a scope id: fe80::1%"), std::string::npos)
        << err;
  }
  // With a scope id the address is taken as given: no hint, whatever the kernel says.
  const std::string err =
      expect_refusal({"--host", "fe80::1%lo", "--port", "0"});  // not an address of lo
  EXPECT_EQ(err.find("scope id"), std::string::npos) << err;
}

}  // namespace
}  // namespace switchboard::test
