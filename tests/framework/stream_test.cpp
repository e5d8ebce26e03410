// StreamReader and StreamWriter over a socketpair, and CPython's
// SocketWriterTest: a large write interrupted by signals arrives whole.

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <future>
#include <string>
#include <thread>

#include "helpers.hpp"

namespace sbt {
namespace {

using switchboard::LineTooLong;
using switchboard::Socket;
using switchboard::StreamReader;
using switchboard::StreamRequestHandler;
using switchboard::StreamWriter;

struct Pair {
  Socket near;  // the side under test
  Socket far;   // the peer
};

Pair socket_pair() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) ADD_FAILURE() << "socketpair";
  Pair p{Socket(fds[0]), Socket(fds[1])};
  for (Socket* s : {&p.near, &p.far}) {
    s->set_timeout(SO_RCVTIMEO, kLimit);
    s->set_timeout(SO_SNDTIMEO, kLimit);
  }
  return p;
}

// A peer thread whose errors fail the test instead of terminating it.
template <class F>
std::jthread peer_thread(F f) {
  return std::jthread([f]() mutable {
    try {
      f();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "peer: " << e.what();
    }
  });
}

std::string recv_all(Socket& s) {
  std::string out;
  char buf[64 * 1024];
  while (const std::size_t n = s.recv_some(buf, sizeof buf)) out.append(buf, n);
  return out;
}

// --- StreamReader ----------------------------------------------------------------

TEST(StreamReader, ReadlineWithAndWithoutTrailingNewline) {
  Pair p = socket_pair();
  p.far.send_all("one\ntwo\n\nthree");
  p.far.close();
  StreamReader r(&p.near, nullptr, 0);
  EXPECT_EQ(r.readline(), "one\n");
  EXPECT_EQ(r.readline(), "two\n");
  EXPECT_EQ(r.readline(), "\n");
  EXPECT_EQ(r.readline(), "three");
  EXPECT_EQ(r.readline(), "");
  EXPECT_EQ(r.readline(), "");
}

TEST(StreamReader, ReadlineAcrossReceives) {
  Pair p = socket_pair();
  std::jthread peer = peer_thread([&] {
    for (const char* piece : {"ab", "c\nd", "ef", "\n", "gh"}) p.far.send_all(piece);
    p.far.close();
  });
  StreamReader r(&p.near, nullptr, 0);
  EXPECT_EQ(r.readline(), "abc\n");
  EXPECT_EQ(r.readline(), "def\n");
  EXPECT_EQ(r.readline(), "gh");
  EXPECT_EQ(r.readline(), "");
  peer.join();
}

TEST(StreamReader, LongLinesAcrossManyReceives) {
  Pair p = socket_pair();
  const std::string line = std::string(100000, 'L') + "\n";
  std::jthread peer = peer_thread([&] {
    for (int i = 0; i < 3; ++i) p.far.send_all(line);
    p.far.close();
  });
  StreamReader r(&p.near, nullptr, 0);  // 0: no limit
  for (int i = 0; i < 3; ++i) EXPECT_EQ(r.readline(), line) << "line " << i;
  EXPECT_EQ(r.readline(), "");
  peer.join();
}

// The limit counts the '\n': with 8, "1234567\n" fits and "12345678\n" does not.
TEST(StreamReader, LineTooLongAtExactlyTheLimit) {
  {
    Pair p = socket_pair();
    p.far.send_all("1234567\nnext\n");
    StreamReader r(&p.near, nullptr, 8);
    EXPECT_EQ(r.max_line(), 8u);
    EXPECT_EQ(r.readline(), "1234567\n");
    EXPECT_EQ(r.readline(), "next\n");
  }
  {
    Pair p = socket_pair();
    p.far.send_all("12345678\n");
    StreamReader r(&p.near, nullptr, 8);
    try {
      r.readline();
      ADD_FAILURE() << "a 9-byte line passed a limit of 8";
    } catch (const LineTooLong& e) {
      EXPECT_EQ(e.limit(), 8u);
    }
  }
  {
    // Nine bytes and no '\n' yet: the line cannot fit, whatever comes next.
    Pair p = socket_pair();
    p.far.send_all("123456789");
    StreamReader r(&p.near, nullptr, 8);
    EXPECT_THROW(r.readline(), LineTooLong);
  }
  {
    // The '\n' arrives in a later receive.
    Pair p = socket_pair();
    std::jthread peer = peer_thread([&] {
      p.far.send_all("1234567");
      p.far.send_all("\n");
    });
    StreamReader r(&p.near, nullptr, 8);
    EXPECT_EQ(r.readline(), "1234567\n");
    peer.join();
  }
}

TEST(StreamReader, LastLineWithoutNewlineWithinTheLimit) {
  Pair p = socket_pair();
  p.far.send_all("1234567");
  p.far.close();
  StreamReader r(&p.near, nullptr, 8);
  EXPECT_EQ(r.readline(), "1234567");
  EXPECT_EQ(r.readline(), "");
}

// A last line without '\n' of exactly max_line bytes: its length, counting
// its (absent) '\n', is within the limit.
TEST(StreamReader, LastLineWithoutNewlineOfExactlyTheLimit) {
  Pair p = socket_pair();
  p.far.send_all("12345678");
  p.far.close();
  StreamReader r(&p.near, nullptr, 8);
  std::string line;
  EXPECT_NO_THROW(line = r.readline());
  EXPECT_EQ(line, "12345678");
}

TEST(StreamReader, ReadExactlyN) {
  Pair p = socket_pair();
  std::jthread peer = peer_thread([&] {
    p.far.send_all("hel");
    p.far.send_all("lo world");
    p.far.close();
  });
  StreamReader r(&p.near, nullptr, 0);
  EXPECT_EQ(r.read(5), "hello");
  EXPECT_EQ(r.read(0), "");
  EXPECT_EQ(r.read(100), " world");  // fewer only at the end of input
  EXPECT_EQ(r.read(1), "");
  peer.join();
}

TEST(StreamReader, ReadSomeReturnsWhatIsBufferedFirst) {
  Pair p = socket_pair();
  p.far.send_all("line\nrest");
  StreamReader r(&p.near, nullptr, 0);
  EXPECT_EQ(r.readline(), "line\n");
  EXPECT_EQ(r.buffered(), 4u);
  EXPECT_EQ(r.read_some(2), "re");
  EXPECT_EQ(r.read_some(), "st");
  p.far.send_all("more");
  EXPECT_EQ(r.read_some(), "more");
  p.far.close();
  EXPECT_EQ(r.read_some(), "");
}

TEST(StreamReader, ReadTimeoutThrowsTimedOut) {
  Pair p = socket_pair();
  p.near.set_timeout(SO_RCVTIMEO, Seconds{0.05});
  StreamReader r(&p.near, nullptr, 0);
  try {
    r.readline();
    ADD_FAILURE() << "readline() returned with nothing to read";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::timed_out) << e.what();
  }
}

TEST(StreamReader, OverMemory) {
  StreamReader r(std::string_view("a\nbb\nccc"), 4);
  EXPECT_EQ(r.readline(), "a\n");
  EXPECT_EQ(r.readline(), "bb\n");
  EXPECT_EQ(r.read_some(), "ccc");
  EXPECT_EQ(r.readline(), "");
  StreamReader too_long(std::string_view("1234\n"), 4);
  EXPECT_THROW(too_long.readline(), LineTooLong);
}

// --- StreamWriter -------------------------------------------------------------------

TEST(StreamWriter, BuffersUntilFlush) {
  Pair p = socket_pair();
  StreamWriter w(&p.near);
  EXPECT_FALSE(w.written());
  w.write("abc");
  EXPECT_TRUE(w.written());
  EXPECT_EQ(w.buffer(), "abc");
  char c;
  EXPECT_EQ(::recv(p.far.fd(), &c, 1, MSG_DONTWAIT), -1) << "write() sent before a flush";
  w.flush();
  EXPECT_EQ(w.buffer(), "");
  p.near.close();
  EXPECT_EQ(recv_all(p.far), "abc");
}

// The reader flushes its tied writer before it waits: a request written and
// a reply read never stall on the writer's own buffer.
TEST(StreamWriter, FlushedByTheTiedReaderBeforeItBlocks) {
  Pair p = socket_pair();
  StreamWriter w(&p.near);
  StreamReader r(&p.near, &w, 0);
  std::jthread peer = peer_thread([&] {
    StreamReader peer_reader(&p.far, nullptr, 0);
    if (peer_reader.readline() == "ping\n") p.far.send_all("pong\n");
  });
  w.write("ping\n");
  EXPECT_EQ(r.readline(), "pong\n") << "the reader waited without flushing its writer";
  peer.join();
}

TEST(StreamWriter, LargeWritesKeepTheirOrder) {
  Pair p = socket_pair();
  std::string expected;
  auto received = std::async(std::launch::async, [&] { return recv_all(p.far); });
  {
    StreamWriter w(&p.near, 1024);
    auto put = [&](const std::string& s) {
      w.write(s);
      expected += s;
    };
    put("small;");
    put(std::string(3 << 20, 'A'));  // larger than the buffer: goes straight out
    put("between;");
    for (int i = 0; i < 1000; ++i) put(std::to_string(i) + ",");  // fills and sends the buffer
    put(std::string(1023, 'B'));
    put(std::string(1025, 'C'));
    put("end");
    w.flush();
  }
  p.near.close();
  ASSERT_EQ(received.wait_for(kLimit), std::future_status::ready);
  const std::string got = received.get();
  EXPECT_EQ(got.size(), expected.size());
  EXPECT_TRUE(got == expected) << "bytes reordered or lost";
}

// After a failed send the connection is done for: the buffer is dropped, so
// the flush in finish() does not fail (or send the same bytes) again.
TEST(StreamWriter, AFailedFlushIsNotRepeated) {
  Pair p = socket_pair();
  p.far.close();
  StreamWriter w(&p.near);
  w.write("lost");
  try {
    w.flush();
    ADD_FAILURE() << "flush() to a closed peer succeeded";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::broken_pipe) << e.what();
  }
  EXPECT_EQ(w.buffer(), "");
  EXPECT_NO_THROW(w.flush());
}

TEST(StreamWriter, MemoryModeKeepsEverythingAndCountsEmptyWrites) {
  StreamWriter w(nullptr);
  EXPECT_FALSE(w.written());
  w.write("");
  EXPECT_TRUE(w.written());
  w.write(std::string(200000, 'x'));
  w.flush();
  EXPECT_EQ(w.buffer().size(), 200000u);
}

// --- CPython's SocketWriterTest -------------------------------------------------------

// test_basics: the handler's streams are on the accepted connection.
struct WhoAmI : StreamRequestHandler {
  void handle() override {
    wfile.write(client_address().to_string() + "\n");
    wfile.write(request().connection.local_address().to_string() + "\n");
  }
};

TEST(SocketWriter, HandlerStreamsAreOnTheConnection) {
  switchboard::TCPServer server(Address("127.0.0.1", 0), switchboard::handler<WhoAmI>);
  Client c = Client::stream(server.server_address());
  server.handle_request();
  sockaddr_storage self{};
  socklen_t len = sizeof self;
  ASSERT_EQ(::getsockname(c.fd(), reinterpret_cast<sockaddr*>(&self), &len), 0);
  EXPECT_EQ(c.recv_line(),
            Address::from_sockaddr(reinterpret_cast<sockaddr*>(&self), len).to_string() + "\n");
  EXPECT_EQ(c.recv_line(), server.server_address().to_string() + "\n");
}

std::atomic<int> g_signalled_fd{-1};
extern "C" void note_signal(int) {
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(g_signalled_fd.load(), &one, sizeof one);
}

constexpr std::size_t kBig = 16u << 20;  // larger than any socket buffer here

struct WriterState {
  std::string received;
  std::promise<pthread_t> handler_thread;
  std::atomic<bool> sent_all{false};
};

struct BigWriter : StreamRequestHandler {
  explicit BigWriter(std::shared_ptr<WriterState> s) : state(std::move(s)) {}
  void handle() override {
    wfile.write("write data\n");         // goes out without a flush ...
    state->received = rfile.readline();  // ... because this read waits
    state->handler_thread.set_value(::pthread_self());
    wfile.write(std::string(kBig, '\0'));  // interrupted by signals while it blocks
    state->sent_all = true;
  }
  std::shared_ptr<WriterState> state;
};

// test_write: signals without SA_RESTART interrupt the handler's blocked
// send(); the write resumes and the client receives every byte.
TEST(SocketWriter, LargeWriteInterruptedBySignalsArrivesWhole) {
  Fd signalled(::eventfd(0, EFD_CLOEXEC));
  ASSERT_GE(signalled.get(), 0);
  g_signalled_fd = signalled.get();
  struct sigaction sa {};
  sa.sa_handler = note_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: blocked calls fail with EINTR or return short
  struct sigaction old {};
  ASSERT_EQ(::sigaction(SIGUSR1, &sa, &old), 0);

  auto state = std::make_shared<WriterState>();
  auto handler_thread = state->handler_thread.get_future();
  switchboard::TCPServer server(Address("127.0.0.1", 0), factory_of<BigWriter>(state));
  std::jthread serving([&] { server.handle_request(); });
  {
    Client c = Client::stream(server.server_address());
    EXPECT_EQ(c.recv_line(), "write data\n");
    c.send("client response\n");
    EXPECT_EQ(c.recv_exact(100).size(), 100u);  // the handler now blocks in send()
    ASSERT_EQ(handler_thread.wait_for(kLimit), std::future_status::ready);
    const pthread_t target = handler_thread.get();
    // The first signal cuts a send() short; later ones find send() blocked
    // with nothing sent yet, which fails with EINTR. Both must be resumed.
    std::uint64_t delivered = 0;
    for (int i = 0; i < 50 && delivered < 5; ++i) {
      ASSERT_EQ(::pthread_kill(target, SIGUSR1), 0);
      pollfd pfd{signalled.get(), POLLIN, 0};
      std::uint64_t n = 0;
      if (::poll(&pfd, 1, 1000) == 1 && ::read(signalled.get(), &n, sizeof n) == sizeof n)
        delivered += n;
    }
    EXPECT_GE(delivered, 5u) << "SIGUSR1 did not reach the handler";
    const std::string rest = c.recv_all();
    EXPECT_EQ(rest.size(), kBig - 100);
    EXPECT_TRUE(std::all_of(rest.begin(), rest.end(), [](char ch) { return ch == '\0'; }));
  }
  serving.join();
  EXPECT_EQ(state->received, "client response\n");
  EXPECT_TRUE(state->sent_all);
  EXPECT_EQ(server.stats().handler_errors, 0u);
  ::sigaction(SIGUSR1, &old, nullptr);
  g_signalled_fd = -1;
}

}  // namespace
}  // namespace sbt
