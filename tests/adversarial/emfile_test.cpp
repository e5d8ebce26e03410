// Out of descriptors: the server runs under a limit of 256 open files and
// 1,000 clients connect. Its accept loop must neither spin (CPU stays low
// while the flood waits) nor die, and once the flood leaves it serves new
// clients by itself.

#include <sys/resource.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "adversarial.hpp"

namespace switchboard::test {
namespace {

constexpr rlim_t kServerFds = 256;

class OutOfDescriptors : public TransportPolicyTest {};

TEST_P(OutOfDescriptors, AcceptLoopBacksOffAndRecovers) {
  const PolicyCase& policy = this->policy();
  const std::size_t n = sized(1000, 4000);
  SKIP_UNLESS_FDS(n + 100);
  // UBSan's vptr check, on a miss in its small type cache, asks whether the
  // object's memory is readable by writing it to a pipe; out of descriptors the
  // pipe fails and the check reports a valid object as a bad one (seen on the
  // sweeper's entries and the stats printer's stream). This server alone runs
  // without that check; every other test keeps it.
  if (sanitized()) {
    const std::string suppressions = dir.file("ubsan.supp");
    std::ofstream(suppressions) << "vptr:*\n";
    const char* options = std::getenv("UBSAN_OPTIONS");
    const std::string merged =
        (options ? std::string(options) + ":" : std::string()) + "suppressions=" + suppressions;
    ASSERT_EQ(::setenv("UBSAN_OPTIONS", merged.c_str(), 1), 0);
  }
  Server server = start_with(kEchoServer, {"--idle-timeout", "120", "--stats-interval", "0.2"});
  // What `prlimit --nofile=256` does, applied once the server is up (forked
  // children inherit it too).
  const rlimit limit{kServerFds, kServerFds};
  ASSERT_EQ(::prlimit(server.pid(), RLIMIT_NOFILE, &limit, nullptr), 0) << std::strerror(errno);
  ASSERT_EQ(echo_check(server.at(), dir), "");
  // One stats line before the flood: the printer works before it is starved.
  ASSERT_TRUE(server.log.wait_for_stats([](const StatsLine&) { return true; }))
      << server.log.text();

  Crowd crowd(server.at());
  crowd.connect(n);
  ASSERT_TRUE(crowd.wait_connected(bound(30s))) << crowd.summary();
  crowd.drive_for(500ms);  // the server takes what it can; the rest waits or is refused

  // CPU over one second of the flood waiting: a busy accept loop would burn a core.
  const std::uint64_t ticks_before = cpu_ticks(server.pid());
  const auto window_start = Clock::now();
  crowd.drive_for(1s);
  const std::uint64_t ticks = cpu_ticks(server.pid()) - ticks_before;
  const double window_s = ms_between(window_start, Clock::now()) / 1000;
  const double cpu_share = static_cast<double>(ticks) / ticks_per_second() / window_s;
  const std::size_t fds = open_fds(server.pid());
  const std::size_t threads = thread_count(server.pid());
  const auto stats = server.log.latest_stats();
  if (!sanitized()) {
    EXPECT_LE(cpu_share, 0.3) << "the server burns CPU while out of descriptors";
  }
  EXPECT_LE(fds, kServerFds);
  const std::size_t refused_seen = crowd.count(&Peer::ended);
  EXPECT_EQ(crowd.count([](const Peer& p) { return !p.received.empty(); }), 0u);
  // Where the server itself holds the connections it runs out of descriptors:
  // it counts that, and refuses what waits (the spare-descriptor trick) rather
  // than leaving it hanging. (Serial and forking hold one, or one per child.)
  if (policy.concurrent && !policy.process_per_request) {
    ASSERT_TRUE(stats) << server.log.text();
    EXPECT_GE((*stats)["accept_errors"], 1u) << stats->text();
    EXPECT_GE((*stats)["refused"], 1u) << stats->text();
    EXPECT_GE(refused_seen, 1u) << "no client saw a refusal: " << crowd.summary();
  }

  // The flood leaves; the server serves again by itself. A client arriving
  // while descriptors are still short may be refused at once: try again then.
  for (std::size_t i = 0; i < crowd.size(); ++i) crowd.close(i);
  const auto left = Clock::now();
  int attempts = 0;
  std::string why = "no attempt";
  const bool recovered = eventually(
      [&] {
        ++attempts;
        why = echo_check(server.at(), dir, 2s);
        return why.empty();
      },
      bound(10s));
  EXPECT_TRUE(recovered) << "not serving after the flood left: " << why
                         << "; log: " << server.log.text();
  const double recovery_ms = ms_between(left, Clock::now());
  EXPECT_TRUE(eventually([&] { return open_fds(server.pid()) < 32; }, bound(10s)))
      << open_fds(server.pid()) << " descriptors still open";
  const std::size_t fds_after = open_fds(server.pid());
  server.expect_clean_stop();

  Figures()
      .add("connections", n)
      .add("fd_limit", kServerFds)
      .add("server_fds", fds)
      .add("server_threads", threads)
      .add("refused_seen_by_clients", refused_seen)
      .add("cpu_ticks_1s", ticks)
      .add("cpu_share", cpu_share)
      .add("accept_errors", stats && stats->has("accept_errors") ? (*stats)["accept_errors"] : 0)
      .add("refused", stats && stats->has("refused") ? (*stats)["refused"] : 0)
      .add("recovery_ms", recovery_ms)
      .add("attempts", attempts)
      .add("fds_after", fds_after);
}

INSTANTIATE_TEST_SUITE_P(Adversarial, OutOfDescriptors, each_of(kStreamTransports, kPolicies),
                         transport_policy_name);

}  // namespace
}  // namespace switchboard::test
