// Datagrams at their edges: an empty one is echoed as an empty one; one
// larger than --max-datagram is dropped and counted, never echoed as a
// prefix; a flood leaves the server serving and no bigger than before.

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <set>
#include <tuple>

#include "adversarial.hpp"

namespace switchboard::test {
namespace {

class DatagramEdges : public testing::TestWithParam<TransportPolicy> {
 protected:
  Server start_echo(const std::vector<std::string>& extra) {
    return start(kEchoServer, std::get<0>(GetParam()), std::get<1>(GetParam()), dir, extra);
  }
  TempDir dir;
};

TEST_P(DatagramEdges, EmptyIsEchoedAndOversizedIsDroppedNeverTruncated) {
  constexpr std::size_t kMax = 1000;
  Server server = start_echo({"--max-datagram", std::to_string(kMax), "--stats-interval", "0.1"});
  Client c = client_of(server.at(), dir);

  c.send_all("");
  EXPECT_EQ(c.recv_datagram(), "") << "an empty datagram";

  const std::string largest(kMax, 'm');
  c.send_all(largest);
  EXPECT_EQ(c.recv_datagram(), largest) << "a datagram of exactly --max-datagram bytes";

  for (std::size_t size : {kMax + 1, std::size_t{60000}}) {
    c.send_all(std::string(size, 'y'));
    c.send_all("marker");
    EXPECT_EQ(c.recv_datagram(), "marker") << "after an oversized datagram of " << size;
  }
  const auto stats = server.log.wait_for_stats(
      [](const StatsLine& s) { return s["dropped_datagrams"] >= 2; }, bound(5s));
  ASSERT_TRUE(stats) << server.log.text();
  EXPECT_EQ((*stats)["dropped_datagrams"], 2u);
  // Nothing else came back (no prefix of the oversized ones).
  c.send_all("last");
  EXPECT_EQ(c.recv_datagram(), "last");
  server.expect_clean_stop();
  Figures().add("max_datagram", kMax).add("dropped_datagrams", (*stats)["dropped_datagrams"]);
}

TEST_P(DatagramEdges, FloodLeavesTheServerServing) {
  const PolicyCase& policy = std::get<1>(GetParam());
  const std::size_t n = policy.process_per_request ? sized(200, 2000) : sized(5000, 50000);
  Server server = start_echo({});
  ASSERT_EQ(echo_check(server.at(), dir), "");
  const std::size_t fds_before = open_fds(server.pid());
  const std::size_t threads_before = thread_count(server.pid());

  Client c = client_of(server.at(), dir, "flood.sock");
  ::fcntl(c.fd(), F_SETFL, ::fcntl(c.fd(), F_GETFL) | O_NONBLOCK);
  std::vector<std::string> sent;
  for (std::size_t i = 0; i < n; ++i) {
    std::string d = "flood " + std::to_string(i) + " ";
    d.resize(100, '.');
    sent.push_back(d);
  }
  const std::set<std::string> valid(sent.begin(), sent.end());
  std::set<std::string> replies;
  std::size_t next = 0, bad = 0, duplicates = 0;
  std::size_t peak_threads = threads_before;
  const auto began = Clock::now();
  auto quiet_since = Clock::now();
  const Deadline deadline(bound(30s));
  // Send as fast as the socket takes, read what comes back; done once all is
  // sent and nothing came back for 300 ms.
  while (!deadline.expired()) {
    if (next == n && ms_between(quiet_since, Clock::now()) > 300) break;
    pollfd p{c.fd(), static_cast<short>(POLLIN | (next < n ? POLLOUT : 0)), 0};
    ::poll(&p, 1, 50);
    while (next < n && ::send(c.fd(), sent[next].data(), sent[next].size(), MSG_NOSIGNAL) >= 0)
      ++next;
    char buffer[2048];
    for (ssize_t got; (got = ::recv(c.fd(), buffer, sizeof buffer, 0)) >= 0;) {
      quiet_since = Clock::now();
      std::string reply(buffer, static_cast<std::size_t>(got));
      if (!valid.count(reply)) ++bad;
      if (!replies.insert(reply).second) ++duplicates;
    }
    if (next % 512 == 0) peak_threads = std::max(peak_threads, thread_count(server.pid()));
  }
  const double elapsed = ms_between(began, Clock::now());
  EXPECT_EQ(next, n) << "could not send the flood in time";
  EXPECT_EQ(bad, 0u) << "replies that are not a datagram sent";
  EXPECT_EQ(duplicates, 0u) << "a datagram answered twice";
  EXPECT_GT(replies.size(), 0u);

  EXPECT_EQ(echo_check(server.at(), dir), "") << "after the flood";
  EXPECT_TRUE(eventually([&] { return open_fds(server.pid()) <= fds_before; }, bound(10s)))
      << open_fds(server.pid()) << " descriptors open, " << fds_before << " before";
  EXPECT_TRUE(eventually([&] { return thread_count(server.pid()) <= threads_before; }, bound(10s)))
      << thread_count(server.pid()) << " threads, " << threads_before << " before";
  server.expect_clean_stop();
  Figures()
      .add("sent", n)
      .add("replies", replies.size())
      .add("lost", n - replies.size())
      .add("elapsed_ms", elapsed)
      .add("threads_before", threads_before)
      .add("threads_peak", peak_threads)
      .add("fds_before", fds_before);
}

// Under a concurrent policy a slow datagram (fault_server's SLEEP) holds up
// only itself: datagrams sent after it are answered while it sleeps.
TEST_P(DatagramEdges, SlowDatagramHoldsUpOnlyItself) {
  if (!std::get<1>(GetParam()).concurrent) GTEST_SKIP() << "serial answers one at a time";
  const std::size_t pings = 8;
  Server server = start(kFaultServer, std::get<0>(GetParam()), std::get<1>(GetParam()), dir);
  Client c = client_of(server.at(), dir);
  c.send_all("SLEEP1500");
  const auto sent = Clock::now();
  std::vector<std::string> replies;
  for (std::size_t i = 0; i < pings; ++i) {
    c.send_all("ping " + std::to_string(i));
    replies.push_back(c.recv_datagram(bound(kTimeout)));
  }
  const double pings_ms = ms_between(sent, Clock::now());
  EXPECT_EQ(c.recv_datagram(bound(kTimeout)), "SLEEP1500");
  for (std::size_t i = 0; i < pings; ++i)
    EXPECT_EQ(replies[i], "ping " + std::to_string(i)) << "held up behind the slow datagram";
  EXPECT_LT(pings_ms, 1500) << "the pings waited for the slow datagram";
  server.expect_clean_stop();
  Figures().add("pings", pings).add("pings_answered_ms", pings_ms).add("slow_ms", 1500);
}

INSTANTIATE_TEST_SUITE_P(Adversarial, DatagramEdges, each_of(kDatagramTransports, kPolicies),
                         transport_policy_name);

// A Unix datagram client that stops reading fills its receive queue (a few
// datagrams), and the kernel then refuses the server's replies while poll()
// calls the server's socket writable. The server waits for room without
// spinning, and a blocking policy delivers every reply once the client reads
// again (within the write timeout). The reactor, which never blocks its loop,
// drops what the client refuses, and sends nothing else.
class SlowDatagramReader : public TransportPolicyTest {};

TEST_P(SlowDatagramReader, WaitsForRoomWithoutSpinning) {
  Server server = start_with(kEchoServer);
  // Unconnected: the kernel never refuses a reply to a peer connected to the
  // server for its queue, but refuses one sent to an unconnected peer.
  UniqueFd c = bind_unix(dir.file("client.sock"), SOCK_DGRAM);
  ::fcntl(c.get(), F_SETFL, ::fcntl(c.get(), F_GETFL) | O_NONBLOCK);
  sockaddr_un to{};
  to.sun_family = AF_UNIX;
  server.at().path.copy(to.sun_path, sizeof to.sun_path - 1);
  const auto* to_addr = reinterpret_cast<const sockaddr*>(&to);
  std::set<std::string> sent;
  // Several times a Unix client's receive queue (max_dgram_qlen), as fast as
  // the server takes them. poll() cannot tell when an unconnected peer has
  // room, so a refused send is retried after a pause, a bounded number of times:
  // a serial server stops taking once its one thread waits.
  for (int refused = 0; sent.size() < 40 && refused < 300;) {
    const std::string d = "slow " + std::to_string(sent.size());
    if (::sendto(c.get(), d.data(), d.size(), MSG_NOSIGNAL, to_addr, sizeof to) >= 0) {
      sent.insert(d);
      refused = 0;
      continue;
    }
    ASSERT_EQ(errno, EAGAIN);
    ++refused;
    ::poll(nullptr, 0, 1);
  }
  EXPECT_GT(sent.size(), 15u);

  // A measurement window, not a wait for an event: what a spinning server would burn.
  const std::uint64_t ticks_before = cpu_ticks(server.pid());
  const auto window_start = Clock::now();
  ::poll(nullptr, 0, 1000);
  const double window_s = ms_between(window_start, Clock::now()) / 1000;
  const double cpu_share =
      static_cast<double>(cpu_ticks(server.pid()) - ticks_before) / ticks_per_second() / window_s;
  // A forked child's CPU is not the parent's until it is reaped.
  if (!sanitized() && !policy().process_per_request) {
    EXPECT_LE(cpu_share, 0.3) << "the server spins on replies the client refuses";
  }

  const bool drops = policy().name == "reactor";
  std::set<std::string> replies;
  std::size_t strangers = 0;
  const Deadline deadline(bound(10s));
  while (replies.size() < sent.size() && !deadline.expired()) {
    pollfd p{c.get(), POLLIN, 0};
    if (::poll(&p, 1, drops ? 500 : 100) == 0 && drops) break;  // quiet: the rest was dropped
    char buffer[256];
    for (ssize_t got; (got = ::recv(c.get(), buffer, sizeof buffer, 0)) >= 0;) {
      const std::string reply(buffer, static_cast<std::size_t>(got));
      if (sent.count(reply)) {
        replies.insert(reply);
      } else {
        ++strangers;
      }
    }
  }
  EXPECT_EQ(strangers, 0u) << "replies that are no datagram sent";
  if (!drops) {
    EXPECT_EQ(replies.size(), sent.size()) << "replies lost to a slow reader";
  }
  EXPECT_GT(replies.size(), 0u);
  server.expect_clean_stop();
  Figures().add("sent", sent.size()).add("replies", replies.size()).add("cpu_share", cpu_share);
}

INSTANTIATE_TEST_SUITE_P(Adversarial, SlowDatagramReader, each_of({"unix-dgram"}, kPolicies),
                         transport_policy_name);

}  // namespace
}  // namespace switchboard::test
