// Unix socket paths: a stale socket file is replaced, a live one (or a file
// that is not a socket) is an error, a path too long for sun_path is
// std::invalid_argument, and the server removes its file when it closes.

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>

#include "helpers.hpp"

namespace sbt {
namespace {

using switchboard::DatagramRequestHandler;
using switchboard::handler;
using switchboard::StreamRequestHandler;
using switchboard::UnixDatagramServer;
using switchboard::UnixStreamServer;

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// A socket of `type` bound to `path`; listening if a stream.
Fd bound_socket(const std::string& path, int type) {
  Fd fd(::socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
  const Address a = Address::unix_path(path);
  if (::bind(fd.get(), a.data(), a.size()) < 0) ADD_FAILURE() << "bind: " << std::strerror(errno);
  if (type == SOCK_STREAM && ::listen(fd.get(), 64) < 0) ADD_FAILURE() << "listen";
  return fd;
}

template <class S>
class UnixPath : public ::testing::Test {
 protected:
  static constexpr int kType = is_datagram_v<S> ? SOCK_DGRAM : SOCK_STREAM;
  static HandlerFactory echo() { return handler<LineEcho<HandlerBaseFor<S>>>; }
};
using UnixServers = ::testing::Types<UnixStreamServer, UnixDatagramServer>;
TYPED_TEST_SUITE(UnixPath, UnixServers, ServerNames);

TYPED_TEST(UnixPath, StaleSocketFileIsReplaced) {
  TempDir dir;
  const std::string path = dir.file("s.sock");
  bound_socket(path, this->kType);  // closed at once: the file stays, nobody behind it
  ASSERT_TRUE(exists(path));
  TypeParam server(path, this->echo());
  ServeThread serving(server);
  EXPECT_EQ(roundtrip(server, dir), "hello world\n");
  ASSERT_TRUE(serving.stop());
}

TYPED_TEST(UnixPath, StaleFileIsAnErrorWhenReplacingIsOff) {
  TempDir dir;
  const std::string path = dir.file("s.sock");
  bound_socket(path, this->kType);
  ServerOptions options;
  options.replace_stale_unix_path = false;
  EXPECT_THROW({ TypeParam s(path, this->echo(), options); }, std::system_error);
  EXPECT_TRUE(exists(path));
}

TYPED_TEST(UnixPath, LiveSocketIsAnError) {
  TempDir dir;
  const std::string path = dir.file("s.sock");
  Fd live = bound_socket(path, this->kType);
  const int before = open_fd_count();
  for (int i = 0; i < 64; ++i) {
    try {
      TypeParam server(path, this->echo());
      ADD_FAILURE() << "bound over a live socket";
      break;
    } catch (const std::system_error& e) {
      if (i == 0) {
        EXPECT_EQ(e.code(), std::errc::address_in_use) << e.what();
        EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
      }
    }
  }
  EXPECT_EQ(open_fd_count(), before) << "a failed bind leaked descriptors";
  EXPECT_TRUE(exists(path)) << "the live socket's file was removed";
}

TYPED_TEST(UnixPath, LiveServerIsAnError) {
  TempDir dir;
  const std::string path = dir.file("s.sock");
  TypeParam first(path, this->echo());
  EXPECT_THROW({ TypeParam s(path, this->echo()); }, std::system_error);
  ServeThread serving(first);
  EXPECT_EQ(roundtrip(first, dir), "hello world\n") << "the first server lost its path";
  ASSERT_TRUE(serving.stop());
}

TYPED_TEST(UnixPath, FileThatIsNotASocketIsAnError) {
  TempDir dir;
  const std::string path = dir.file("data");
  append_file(path, "precious\n");
  EXPECT_THROW({ TypeParam s(path, this->echo()); }, std::system_error);
  EXPECT_EQ(read_file(path), "precious\n");
}

TYPED_TEST(UnixPath, PathTooLongIsInvalidArgument) {
  TempDir dir;
  const std::string path = dir.file(std::string(120, 'p'));
  EXPECT_THROW({ TypeParam s(path, this->echo()); }, std::invalid_argument);
  EXPECT_FALSE(exists(path));
}

TYPED_TEST(UnixPath, ServerCloseRemovesTheFile) {
  TempDir dir;
  const std::string path = dir.file("s.sock");
  TypeParam server(path, this->echo());
  EXPECT_TRUE(exists(path));
  EXPECT_EQ(server.server_address().path(), path);
  server.server_close();
  EXPECT_FALSE(exists(path));
}

TYPED_TEST(UnixPath, DestructorRemovesTheFile) {
  TempDir dir;
  const std::string path = dir.file("s.sock");
  { TypeParam server(path, this->echo()); }
  EXPECT_FALSE(exists(path));
}

// A server whose file was removed and taken by another server must not
// remove the other server's file when it closes.
TYPED_TEST(UnixPath, CloseLeavesAFileThatIsNoLongerItsOwn) {
  TempDir dir;
  const std::string path = dir.file("s.sock");
  TypeParam first(path, this->echo());
  ASSERT_EQ(::unlink(path.c_str()), 0);
  TypeParam second(path, this->echo());
  first.server_close();
  EXPECT_TRUE(exists(path)) << "closing the first server removed the second one's file";
}

// What a stream handler sees of an unbound Unix client.
struct PeerName : StreamRequestHandler {
  void handle() override { wfile.write(client_address().to_string() + "\n"); }
};

TEST(UnixStream, UnboundClientIsUnnamed) {
  TempDir dir;
  UnixStreamServer server(dir.file("s.sock"), handler<PeerName>);
  ServeThread serving(server);
  Client c = Client::stream(server.server_address());
  EXPECT_EQ(c.recv_line(), "(unnamed)\n");
  ASSERT_TRUE(serving.stop());
}

}  // namespace
}  // namespace sbt
