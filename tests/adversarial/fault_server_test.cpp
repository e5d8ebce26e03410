// fault_server, black box: each magic line on each transport where it applies,
// under every policy. The adversarial scenarios build on these behaviours.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <string>
#include <tuple>

#include "adversarial.hpp"

namespace switchboard::test {
namespace {

// "127.0.0.1:PORT" for the local end of a TCP or UDP client, as the server sees it.
std::string local_address(int fd) {
  sockaddr_storage storage{};
  socklen_t len = sizeof storage;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &len);
  char host[INET6_ADDRSTRLEN] = {};
  if (storage.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&storage);
    ::inet_ntop(AF_INET, &v4->sin_addr, host, sizeof host);
    return std::string(host) + ":" + std::to_string(ntohs(v4->sin_port));
  }
  const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&storage);
  ::inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof host);
  return "[" + std::string(host) + "]:" + std::to_string(ntohs(v6->sin6_port));
}

// What handle_error() prints for each kind of throw (the framework's default report).
struct Throw {
  std::string line;
  std::string report;
};
const std::vector<Throw> kThrows = {
    {"BOOM", "BOOM"}, {"BOOM42", "unknown exception"}, {"OOM", "bad_alloc"}};

// --- streams -------------------------------------------------------------------

class FaultServerStream : public testing::TestWithParam<TransportPolicy> {
 protected:
  Server start_fault(const std::vector<std::string>& extra = {}) {
    return start(kFaultServer, std::get<0>(GetParam()), std::get<1>(GetParam()), dir, extra);
  }
  TempDir dir;
};

TEST_P(FaultServerStream, EchoesOrdinaryLinesLineByLine) {
  Server server = start_fault();
  Client c = client_of(server.at(), dir);
  // Near misses of magic words are ordinary lines; CRLF lines come back as sent.
  const std::string lines = "hello\nboom\nBOOM \nSLEEPx\nSLEEP60001\nHANGS\nwhoami\r\nlast";
  c.send_all(lines);
  c.shutdown_write();
  EXPECT_EQ(c.recv_until_eof(), lines);
  EXPECT_FALSE(c.was_reset());
  server.expect_clean_stop();
}

TEST_P(FaultServerStream, EveryThrowEndsOnlyItsConnectionAfterFlushingEarlierLines) {
  Server server = start_fault();
  for (const auto& t : kThrows) {
    for (std::string_view newline : {"\n", "\r\n"}) {
      Client c = client_of(server.at(), dir);
      c.send_all("before\n");
      ASSERT_EQ(c.recv_line(), "before\n");
      // Sent together: "again" is buffered when the throw comes, and finish() must flush it.
      c.send_all("again\n" + t.line + std::string(newline));
      EXPECT_EQ(c.recv_until_eof(), "again\n") << t.line;
      EXPECT_EQ(echo_check(server.at(), dir), "") << "after " << t.line;
    }
  }
  // The default handle_error() reports each throw on stderr, twice per kind.
  for (const auto& t : kThrows) {
    // Written as the handler ends, which may be just after the client saw its close.
    eventually([&] { return server.log.count_lines_with(t.report) >= 2; }, bound(kTimeout));
    EXPECT_EQ(server.log.count_lines_with(t.report), 2u) << server.log.text();
  }
  server.expect_clean_stop();
}

TEST_P(FaultServerStream, SleepDelaysTheEchoAndShutdownDoesNotCutItShort) {
  Server server = start_fault({"--drain-timeout", "30"});
  Client c = client_of(server.at(), dir);
  const auto sent = Clock::now();
  c.send_all("go\nSLEEP400\n");
  ASSERT_EQ(c.recv_line(), "go\n");  // flushed before the sleep: the sleep has begun
  server.process.process.send_signal(SIGTERM);
  EXPECT_EQ(c.recv_line(), "SLEEP400\n");
  const double waited = ms_between(sent, Clock::now());
  EXPECT_GE(waited, 400) << "the sleep was cut short";
  EXPECT_EQ(c.recv_until_eof(), "");  // idle after the reply: closed by the drain
  const auto status = server.process.process.wait(bound(kTimeout));
  ASSERT_TRUE(status) << "still running after the sleeping request ended";
  EXPECT_TRUE(status->exited(0)) << *status << "; stderr: " << server.log.text();
  Figures().add("sleep_ms", 400).add("echo_after_ms", waited);
}

TEST_P(FaultServerStream, HangEndsWhenThePeerCloses) {
  Server server = start_fault();
  Client c = client_of(server.at(), dir);
  c.send_all("x\nHANG\n");
  ASSERT_EQ(c.recv_line(), "x\n");
  if (std::get<1>(GetParam()).concurrent) {
    EXPECT_EQ(echo_check(server.at(), dir), "") << "a hanging handler held up another client";
  }
  c.send_all("ignored\n");  // data does not end the hang; the peer's close does
  c.shutdown_write();
  EXPECT_EQ(c.recv_until_eof(), "");
  EXPECT_EQ(echo_check(server.at(), dir), "");
  server.expect_clean_stop();
}

TEST_P(FaultServerStream, HangEndsAtTheDrainDeadline) {
  Server server = start_fault({"--drain-timeout", "0.5"});
  Client c = client_of(server.at(), dir);
  c.send_all("x\nHANG\n");
  ASSERT_EQ(c.recv_line(), "x\n");
  const auto signalled = Clock::now();
  server.process.process.send_signal(SIGTERM);
  EXPECT_EQ(c.recv_until_eof(bound(kTimeout)), "");
  const auto status = server.process.process.wait(bound(kTimeout));
  const double exited_ms = ms_between(signalled, Clock::now());
  ASSERT_TRUE(status) << "HANG outlived the drain deadline";
  EXPECT_TRUE(status->exited(0)) << *status << "; stderr: " << server.log.text();
  EXPECT_GE(exited_ms, 450) << "HANG ended before the drain deadline";
  Figures().add("drain_timeout_ms", 500).add("exit_after_ms", exited_ms);
}

TEST_P(FaultServerStream, WhoamiNamesTheClient) {
  Server server = start_fault();
  Client c = client_of(server.at(), dir);
  c.send_all("WHOAMI\n");
  const std::string reply = c.recv_line();
  if (server.at().scheme == "tcp") {
    EXPECT_EQ(reply, local_address(c.fd()) + "\n");
  } else {
    EXPECT_TRUE(reply.size() > 1 && reply.back() == '\n') << reply;  // an unnamed Unix client
  }
  server.expect_clean_stop();
}

TEST_P(FaultServerStream, OverlongLineEndsTheConnectionQuietly) {
  Server server = start_fault({"--max-line", "1024"});
  Client c = client_of(server.at(), dir);
  c.send_all("ok\n" + std::string(2048, 'x') + "\n");
  EXPECT_EQ(c.recv_until_eof(), "ok\n");
  EXPECT_EQ(echo_check(server.at(), dir), "");
  server.expect_clean_stop();
}

INSTANTIATE_TEST_SUITE_P(Adversarial, FaultServerStream, each_of(kStreamTransports, kPolicies),
                         transport_policy_name);

// --- datagrams -----------------------------------------------------------------

class FaultServerDatagram : public testing::TestWithParam<TransportPolicy> {
 protected:
  Server start_fault(const std::vector<std::string>& extra = {}) {
    return start(kFaultServer, std::get<0>(GetParam()), std::get<1>(GetParam()), dir, extra);
  }
  TempDir dir;
};

TEST_P(FaultServerDatagram, EchoesOrdinaryDatagrams) {
  Server server = start_fault();
  Client c = client_of(server.at(), dir);
  for (std::string_view d : {"hello", "boom", "SLEEPx", "two\nlines\n", "BOOM\n\n", ""}) {
    c.send_all(d);
    EXPECT_EQ(c.recv_datagram(), d);
  }
  server.expect_clean_stop();
}

TEST_P(FaultServerDatagram, EveryThrowGetsNoReplyAndServingGoesOn) {
  Server server = start_fault();
  Client c = client_of(server.at(), dir);
  for (const auto& t : kThrows) {
    for (const std::string& d : {t.line, t.line + "\n", t.line + "\r\n"}) {
      c.send_all(d);
      c.send_all("next");
      // Under a concurrent policy "next" may be answered first; either way,
      // the only reply is "next".
      EXPECT_EQ(c.recv_datagram(), "next") << "after " << t.line;
    }
  }
  for (const auto& t : kThrows) {
    eventually([&] { return server.log.count_lines_with(t.report) >= 3; }, bound(kTimeout));
    EXPECT_EQ(server.log.count_lines_with(t.report), 3u) << server.log.text();
  }
  // Nothing else came back: a marker is the next datagram.
  c.send_all("marker");
  EXPECT_EQ(c.recv_datagram(), "marker");
  server.expect_clean_stop();
}

TEST_P(FaultServerDatagram, SleepDelaysTheEcho) {
  Server server = start_fault();
  Client c = client_of(server.at(), dir);
  const auto sent = Clock::now();
  c.send_all("SLEEP300");
  EXPECT_EQ(c.recv_datagram(), "SLEEP300");
  const double waited = ms_between(sent, Clock::now());
  EXPECT_GE(waited, 300);
  server.expect_clean_stop();
  Figures().add("sleep_ms", 300).add("echo_after_ms", waited);
}

TEST_P(FaultServerDatagram, HangEndsAtTheDrainDeadline) {
  const bool concurrent = std::get<1>(GetParam()).concurrent;
  std::vector<std::string> flags{"--drain-timeout", "0.5"};
  if (!concurrent) flags.insert(flags.end(), {"--stats-interval", "0.05"});
  Server server = start_fault(flags);
  Client c = client_of(server.at(), dir);
  c.send_all("HANG");
  if (concurrent) {
    // Datagrams are dispatched in order: once WHOAMI is answered, HANG is in
    // the policy's hands (a forked child counts nothing in the parent's stats).
    c.send_all("WHOAMI");
    ASSERT_FALSE(c.recv_datagram(bound(kTimeout)).empty());
  } else {
    ASSERT_TRUE(server.log.wait_for_stats([](const StatsLine& s) { return s["active"] >= 1; },
                                          bound(kTimeout)))
        << server.log.text();
  }
  const auto signalled = Clock::now();
  server.process.process.send_signal(SIGTERM);
  const auto status = server.process.process.wait(bound(kTimeout));
  const double exited_ms = ms_between(signalled, Clock::now());
  ASSERT_TRUE(status) << "HANG outlived the drain deadline";
  EXPECT_TRUE(status->exited(0)) << *status << "; stderr: " << server.log.text();
  EXPECT_GE(exited_ms, 450) << "HANG ended before the drain deadline";
  Figures().add("drain_timeout_ms", 500).add("exit_after_ms", exited_ms);
}

TEST_P(FaultServerDatagram, WhoamiNamesTheClient) {
  Server server = start_fault();
  Client c = client_of(server.at(), dir, "whoami.sock");
  c.send_all("WHOAMI");
  const std::string expected =
      server.at().scheme == "udp" ? local_address(c.fd()) : dir.file("whoami.sock");
  EXPECT_EQ(c.recv_datagram(), expected + "\n");
  server.expect_clean_stop();
}

INSTANTIATE_TEST_SUITE_P(Adversarial, FaultServerDatagram, each_of(kDatagramTransports, kPolicies),
                         transport_policy_name);

}  // namespace
}  // namespace switchboard::test
