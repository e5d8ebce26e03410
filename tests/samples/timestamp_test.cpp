// timestamp_server answers in ctime format, a line at a time (--max-line
// bounds it); timestamp_client drives it from stdin, prompting only a terminal.

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <regex>
#include <string>
#include <tuple>
#include <vector>

#include "samples_test.hpp"

namespace switchboard::test {
namespace {

// "[Wed Nov 25 02:52:00 2026] hello"
const std::regex kStamped(R"(^\[\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\] hello$)");

class TimestampProto : public testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(TimestampProto, ServerPrefixesTheTime) {
  const auto& [proto, policy] = GetParam();
  TempDir dir;
  auto server = start_server(kTimestampServer, server_args(proto, policy, dir));
  EXPECT_EQ(server.listening.scheme, proto);
  Client client = connect_to(server.listening, dir);
  for (int i = 0; i < 2; ++i) {
    std::string reply;
    if (is_datagram(proto)) {
      client.send_all("hello");
      reply = client.recv_datagram();
    } else {
      client.send_all("hello\n");
      reply = client.recv_line();
      ASSERT_TRUE(reply.ends_with('\n')) << reply;  // the line keeps its '\n'
      reply.pop_back();
    }
    EXPECT_TRUE(std::regex_match(reply, kStamped)) << reply;
  }
  if (!is_datagram(proto)) {
    client.shutdown_write();
    EXPECT_EQ(client.recv_until_eof(), "");
  }
  expect_clean_stop(server.process);
}

INSTANTIATE_TEST_SUITE_P(Samples, TimestampProto,
                         testing::Combine(testing::Values("tcp", "udp", "unix", "unix-dgram"),
                                          testing::Values("threading", "reactor")),
                         [](const auto& p) {
                           return param_name(std::get<0>(p.param) + "_" + std::get<1>(p.param));
                         });

// --max-line belongs to line handlers: a line that fits is answered, an
// over-long one ends the connection with nothing of it sent back.
class TimestampMaxLine : public testing::TestWithParam<std::string> {};

TEST_P(TimestampMaxLine, OverLongLineEndsTheConnectionWithoutAnsweringAPrefix) {
  TempDir dir;
  auto args = server_args("tcp", GetParam(), dir);
  args.insert(args.end(), {"--max-line", "16"});
  auto server = start_server(kTimestampServer, args);

  Client client = connect_to(server.listening, dir);
  const std::string fits = "123456789012345\n";  // 16 bytes with its '\n'
  client.send_all(fits);
  EXPECT_TRUE(client.recv_line().ends_with("] " + fits));
  client.send_all("1234567890123456\n");  // 17
  EXPECT_EQ(client.recv_until_eof(), "");

  // Another connection is served as usual.
  Client next = connect_to(server.listening, dir);
  next.send_all("ok\n");
  EXPECT_TRUE(next.recv_line().ends_with("] ok\n"));
  next.shutdown_write();
  EXPECT_EQ(next.recv_until_eof(), "");
  expect_clean_stop(server.process);
}

INSTANTIATE_TEST_SUITE_P(Samples, TimestampMaxLine, testing::Values("threading", "reactor"));

// "[Wed Nov 25 02:52:00 2026] <text>"
bool stamped(const std::string& line, const std::string& text) {
  static const std::regex stamp(R"(^\[\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\] )");
  std::smatch m;
  return std::regex_search(line, m, stamp) && m.suffix() == text;
}

SpawnOptions at_a_terminal() {
  SpawnOptions options;
  options.stdin_terminal = true;
  return options;
}

// timestamp_client with `input` piped in, run to its end against `port`;
// with `close_input` false the input stays open, so only the input itself can
// end the session.
struct PipedSession {
  std::optional<ExitStatus> status;
  std::string out, err;
};
PipedSession run_piped_client(const std::string& proto, std::uint16_t port,
                              const std::string& input, bool close_input = true) {
  ChildProcess client =
      ChildProcess::spawn(kTimestampClient, {"--proto", proto, "--port", std::to_string(port)});
  client.write_stdin(input);
  if (close_input) client.close_stdin();
  PipedSession session;
  session.status = client.wait();
  session.out = client.drain_stdout();
  session.err = client.drain_stderr();
  return session;
}

// The reply lines of a piped session.
std::vector<std::string> lines_of(const std::string& out) {
  std::vector<std::string> lines;
  for (std::size_t at = 0, nl; (nl = out.find('\n', at)) != std::string::npos; at = nl + 1)
    lines.push_back(out.substr(at, nl - at));
  return lines;
}

class TimestampClientProto : public testing::TestWithParam<std::string> {};

// A person at a terminal is prompted for each line.
TEST_P(TimestampClientProto, AtATerminalPromptsSendsPrintsAndEndsOnEmptyLine) {
  const std::string proto = GetParam();
  TempDir dir;
  auto server = start_server(kTimestampServer, server_args(proto, "threading", dir));
  ChildProcess client = ChildProcess::spawn(
      kTimestampClient, {"--proto", proto, "--port", std::to_string(server.listening.port)},
      at_a_terminal());

  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(client.read_until("> "), "> ") << "stderr: " << client.drain_stderr();
    client.write_stdin("hello\n");
    const auto reply = client.read_line();
    ASSERT_TRUE(reply) << "no reply; stderr: " << client.drain_stderr();
    EXPECT_TRUE(std::regex_match(*reply, kStamped)) << *reply;
  }
  ASSERT_EQ(client.read_until("> "), "> ");
  client.write_stdin("\n");
  const auto status = client.wait();
  ASSERT_TRUE(status) << "the client did not end on an empty line";
  EXPECT_TRUE(status->exited(0)) << *status << "; stderr: " << client.drain_stderr();
  EXPECT_EQ(client.drain_stdout(), "");
  expect_clean_stop(server.process);
}

TEST_P(TimestampClientProto, AtATerminalEndsOnEndOfInput) {
  const std::string proto = GetParam();
  TempDir dir;
  auto server = start_server(kTimestampServer, server_args(proto, "threading", dir));
  ChildProcess client = ChildProcess::spawn(
      kTimestampClient, {"--proto", proto, "--port", std::to_string(server.listening.port)},
      at_a_terminal());
  ASSERT_EQ(client.read_until("> "), "> ") << "stderr: " << client.drain_stderr();
  client.write_stdin("\x04");  // Ctrl-D
  const auto status = client.wait();
  ASSERT_TRUE(status) << "the client did not end at end of input";
  EXPECT_TRUE(status->exited(0)) << *status << "; stderr: " << client.drain_stderr();
  expect_clean_stop(server.process);
}

// Piped input (a script, a test) gets the replies alone, one per line, in
// order: no prompt mixed into them.
TEST_P(TimestampClientProto, PipedInputGetsTheRepliesAlone) {
  const std::string proto = GetParam();
  TempDir dir;
  auto server = start_server(kTimestampServer, server_args(proto, "threading", dir));
  const PipedSession session = run_piped_client(proto, server.listening.port, "one\ntwo\nthree\n");
  ASSERT_TRUE(session.status) << "the client did not end at end of input";
  EXPECT_TRUE(session.status->exited(0)) << *session.status << "; stderr: " << session.err;
  const std::vector<std::string> lines = lines_of(session.out);
  ASSERT_EQ(lines.size(), 3u) << session.out;
  EXPECT_TRUE(session.out.ends_with('\n')) << session.out;
  EXPECT_TRUE(stamped(lines[0], "one")) << session.out;
  EXPECT_TRUE(stamped(lines[1], "two")) << session.out;
  EXPECT_TRUE(stamped(lines[2], "three")) << session.out;
  expect_clean_stop(server.process);
}

// An empty line ends a piped session too; what follows it is not sent.
TEST_P(TimestampClientProto, PipedInputEndsAtAnEmptyLine) {
  const std::string proto = GetParam();
  TempDir dir;
  auto server = start_server(kTimestampServer, server_args(proto, "threading", dir));
  const PipedSession session = run_piped_client(proto, server.listening.port, "hello\n\nnot sent\n",
                                                /*close_input=*/false);
  ASSERT_TRUE(session.status) << "the client did not end on an empty line";
  EXPECT_TRUE(session.status->exited(0)) << *session.status << "; stderr: " << session.err;
  ASSERT_TRUE(session.out.ends_with('\n')) << session.out;
  EXPECT_TRUE(std::regex_match(session.out.substr(0, session.out.size() - 1), kStamped))
      << session.out;
  expect_clean_stop(server.process);
}

// The client against the tutorial's server as Python's socketserver serves
// it (a peer none of this project wrote): the same replies, in order.
constexpr const char* kPythonTimestampServer = R"(
import socketserver, sys, time
class Lines(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(b"[%s] %s" % (time.ctime().encode(), line))
class Datagrams(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        sock.sendto(b"[%s] %s" % (time.ctime().encode(), data), self.client_address)
tcp = sys.argv[1] == "tcp"
server = (socketserver.ThreadingTCPServer if tcp else socketserver.UDPServer)(
    ("127.0.0.1", 0), Lines if tcp else Datagrams)
print("listening on %s://127.0.0.1:%d" % (sys.argv[1], server.server_address[1]), flush=True)
server.serve_forever()
)";

TEST_P(TimestampClientProto, TalksToPythonsSocketserver) {
  const std::string proto = GetParam();
  auto server = start_server("/usr/bin/python3", {"-c", kPythonTimestampServer, proto});
  const PipedSession session = run_piped_client(proto, server.listening.port, "one\ntwo\n");
  ASSERT_TRUE(session.status) << "the client did not end at end of input";
  EXPECT_TRUE(session.status->exited(0)) << *session.status << "; stderr: " << session.err;
  const std::vector<std::string> lines = lines_of(session.out);
  ASSERT_EQ(lines.size(), 2u) << session.out;
  EXPECT_TRUE(stamped(lines[0], "one")) << session.out;
  EXPECT_TRUE(stamped(lines[1], "two")) << session.out;
}

INSTANTIATE_TEST_SUITE_P(Samples, TimestampClientProto, testing::Values("tcp", "udp"));

TEST(SamplesTimestampClient, RefusedConnectionIsAnError) {
  // Bound but not listening: connects are refused, and no other test can take the port.
  const BoundSocket closed = bind_loopback(SOCK_STREAM, "127.0.0.1", /*listen=*/false);
  ChildProcess client = ChildProcess::spawn(
      kTimestampClient, {"--proto", "tcp", "--port", std::to_string(closed.port)});
  const auto status = client.wait();
  ASSERT_TRUE(status);
  EXPECT_EQ(status->signal, 0);
  EXPECT_NE(status->code, 0);
  const std::string err = client.drain_stderr();
  EXPECT_NE(err.find("refused"), std::string::npos) << err;
}

TEST(SamplesTimestampClient, NoUdpReplyIsAnErrorAfterTheTimeout) {
  const BoundSocket silent = bind_loopback(SOCK_DGRAM);  // receives, never answers
  ChildProcess client = ChildProcess::spawn(
      kTimestampClient,
      {"--proto", "udp", "--port", std::to_string(silent.port), "--timeout", "0.2"});
  client.write_stdin("hello\n");
  const auto status = client.wait();
  ASSERT_TRUE(status);
  EXPECT_EQ(status->signal, 0);
  EXPECT_NE(status->code, 0);
  const std::string err = client.drain_stderr();
  EXPECT_NE(err.find("no reply"), std::string::npos) << err;
}

}  // namespace
}  // namespace switchboard::test
