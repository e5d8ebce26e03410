// The Unix socket path contract: a stale file is replaced, a live one is an
// error, a path too long for sun_path is an error, the file goes on clean exit.

#include <sys/socket.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "samples_test.hpp"

namespace switchboard::test {
namespace {

class UnixSocketPath : public testing::TestWithParam<std::string> {
 protected:
  const std::string proto = GetParam();
  int type() const { return proto == "unix" ? SOCK_STREAM : SOCK_DGRAM; }

  // One round trip, so we know the server behind `l` answers.
  void expect_echo(const Listening& l, const TempDir& dir) {
    Client client = connect_to(l, dir);
    if (is_datagram(proto)) {
      client.send_all("ping");
      EXPECT_EQ(client.recv_datagram(), "ping");
    } else {
      client.send_all("ping\n");
      EXPECT_EQ(client.recv_line(), "ping\n");
    }
  }

  // echo_server must refuse to start on `path`; returns its stderr.
  std::string expect_refusal(const std::string& path) {
    ChildProcess server = ChildProcess::spawn(kEchoServer, {"--proto", proto, "--path", path});
    const auto status = server.wait();
    if (!status) {
      ADD_FAILURE() << "echo_server is still running";
      return {};
    }
    EXPECT_EQ(status->signal, 0) << *status;
    EXPECT_NE(status->code, 0) << *status;
    EXPECT_EQ(server.drain_stdout().find("listening on"), std::string::npos);
    return server.drain_stderr();
  }
};

TEST_P(UnixSocketPath, FileIsRemovedOnCleanExit) {
  TempDir dir;
  const std::string path = dir.file("server.sock");
  auto server = start_server(kEchoServer, {"--proto", proto, "--path", path});
  EXPECT_EQ(server.listening.url, proto + ":" + path);
  EXPECT_TRUE(std::filesystem::is_socket(path));
  expect_echo(server.listening, dir);
  expect_clean_stop(server.process);
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST_P(UnixSocketPath, StaleSocketFileIsReplaced) {
  TempDir dir;
  const std::string path = dir.file("server.sock");
  bind_unix(path, type());  // bound and closed at once: nobody listens there now
  ASSERT_TRUE(std::filesystem::is_socket(path));

  auto server = start_server(kEchoServer, {"--proto", proto, "--path", path});
  expect_echo(server.listening, dir);
  expect_clean_stop(server.process);
}

TEST_P(UnixSocketPath, LiveSocketIsAnError) {
  TempDir dir;
  const std::string path = dir.file("server.sock");
  auto first = start_server(kEchoServer, {"--proto", proto, "--path", path});

  const std::string err = expect_refusal(path);
  EXPECT_NE(err.find(path), std::string::npos) << err;
  expect_echo(first.listening, dir);  // the first server is untouched
  expect_clean_stop(first.process);
}

TEST_P(UnixSocketPath, PathThatIsNotASocketIsAnError) {
  TempDir dir;
  const std::string path = dir.file("notes.txt");
  std::ofstream(path) << "keep me\n";
  const std::string err = expect_refusal(path);
  EXPECT_NE(err.find(path), std::string::npos) << err;
  EXPECT_TRUE(std::filesystem::is_regular_file(path));
}

TEST_P(UnixSocketPath, PathTooLongForSunPathIsAnError) {
  TempDir dir;
  const std::string path = dir.file(std::string(120, 'x') + ".sock");
  const std::string err = expect_refusal(path);
  EXPECT_NE(err.find(path), std::string::npos) << err;
  EXPECT_FALSE(std::filesystem::exists(path));
}

INSTANTIATE_TEST_SUITE_P(Samples, UnixSocketPath, testing::Values("unix", "unix-dgram"),
                         [](const auto& p) { return param_name(p.param); });

}  // namespace
}  // namespace switchboard::test
