// --fd N: echo_server serves on a socket it inherits, of --proto's kind,
// and leaves it to its holder when it stops (the test here, a master or
// systemd elsewhere); a descriptor of the wrong kind is a one-line error.

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "samples_test.hpp"

namespace switchboard::test {
namespace {

constexpr int kChildFd = 3;  // the first descriptor after stdio, as systemd passes them

// The socket the test holds and passes: on loopback port 0, or in `dir`.
UniqueFd given_socket(const std::string& proto, const TempDir& dir) {
  const int type = is_datagram(proto) ? SOCK_DGRAM : SOCK_STREAM;
  if (is_unix(proto)) return bind_unix(dir.file("given.sock"), type);
  return bind_loopback(type).fd;
}

SpawnOptions passing(const UniqueFd& fd) {
  SpawnOptions options;
  options.fds = {{fd.get(), kChildFd}};
  return options;
}

class InheritedSocket : public testing::TestWithParam<std::string> {
 protected:
  void serves_on_it_and_leaves_it(const std::vector<std::string>& more_args);
  const std::string proto = GetParam();
};

TEST_P(InheritedSocket, ServesOnItAndLeavesItToItsHolder) { serves_on_it_and_leaves_it({}); }

// A master's workers borrow it as the master does: their stop for good
// neither shuts it down nor filters it.
TEST_P(InheritedSocket, AMastersWorkersLeaveItToItsHolderToo) {
  serves_on_it_and_leaves_it({"--workers", "2"});
}

void InheritedSocket::serves_on_it_and_leaves_it(const std::vector<std::string>& more_args) {
  TempDir dir;
  UniqueFd given = given_socket(proto, dir);
  std::vector<std::string> args{"--proto", proto, "--fd", std::to_string(kChildFd)};
  args.insert(args.end(), more_args.begin(), more_args.end());
  auto server = start_server(kEchoServer, args, passing(given));
  EXPECT_EQ(server.listening.scheme, proto);
  if (is_unix(proto)) {
    EXPECT_EQ(server.listening.path, dir.file("given.sock"));
  } else {
    EXPECT_EQ(server.listening.host, "127.0.0.1");
  }
  {
    Client client = connect_to(server.listening, dir);
    client.send_all("ping\n");
    EXPECT_EQ(is_datagram(proto) ? client.recv_datagram() : client.recv_line(), "ping\n");
  }
  expect_clean_stop(server.process);

  // Still the test's: listening (nothing shut it down), its file in place.
  if (is_unix(proto)) {
    EXPECT_TRUE(std::filesystem::is_socket(dir.file("given.sock")));
  }
  if (!is_datagram(proto)) {
    Client client = connect_to(server.listening, dir);
    pollfd p{given.get(), POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, static_cast<int>(kTimeout.count())), 1);
    UniqueFd accepted(::accept4(given.get(), nullptr, nullptr, SOCK_CLOEXEC));
    EXPECT_TRUE(accepted) << "the listener was shut down";
  }
}

INSTANTIATE_TEST_SUITE_P(Protocols, InheritedSocket,
                         testing::Values("tcp", "udp", "unix", "unix-dgram"),
                         [](const auto& p) { return param_name(p.param); });

// echo_server must refuse to start with exit status `code` and a one-line error containing `says`.
void expect_refusal(const std::vector<std::string>& args, const SpawnOptions& options, int code,
                    const std::string& says) {
  ChildProcess server = ChildProcess::spawn(kEchoServer, args, options);
  const auto status = server.wait();
  ASSERT_TRUE(status) << "echo_server is still running";
  EXPECT_TRUE(status->exited(code)) << *status;
  EXPECT_EQ(server.drain_stdout(), "");
  const std::string err = server.drain_stderr();
  EXPECT_NE(err.find(says), std::string::npos) << err;
  EXPECT_EQ(err.find('\n'), err.size() - 1) << "not one line: " << err;
}

TEST(InheritedSocketErrors, TypeMustMatchTheProtocol) {
  UniqueFd udp = bind_loopback(SOCK_DGRAM).fd;
  expect_refusal({"--proto", "tcp", "--fd", "3"}, passing(udp), 2,
                 "descriptor 3 is a UDP socket; this server needs a listening TCP");
  UniqueFd tcp = bind_loopback(SOCK_STREAM).fd;
  expect_refusal({"--proto", "udp", "--fd", "3"}, passing(tcp), 2,
                 "descriptor 3 is a TCP socket; this server needs a bound UDP");
  TempDir dir;
  UniqueFd unix_stream = bind_unix(dir.file("given.sock"), SOCK_STREAM);
  expect_refusal({"--proto", "tcp", "--fd", "3"}, passing(unix_stream), 2,
                 "descriptor 3 is a Unix socket; tcp needs an IP socket");
}

TEST(InheritedSocketErrors, StreamSocketMustListen) {
  UniqueFd bound = bind_loopback(SOCK_STREAM, "127.0.0.1", false).fd;
  expect_refusal({"--fd", "3"}, passing(bound), 2,
                 "descriptor 3 is a TCP socket that is not listening");
}

TEST(InheritedSocketErrors, DescriptorMustBeAnOpenSocket) {
  expect_refusal({"--fd", "99"}, {}, 1, "descriptor 99 is not open");
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
  expect_refusal({"--fd", "3"}, passing(read_end), 1, "descriptor 3 is not a socket");
}

TEST(InheritedSocketErrors, FlagIsChecked) {
  expect_refusal({"--fd", "2"}, {}, 2, "--fd");
  expect_refusal({"--fd", "65536"}, {}, 2, "--fd");
  expect_refusal({"--fd", "three"}, {}, 2, "--fd");
  UniqueFd tcp = bind_loopback(SOCK_STREAM).fd;
  expect_refusal({"--fd", "3", "--port", "0"}, passing(tcp), 2, "--fd");
}

}  // namespace
}  // namespace switchboard::test
