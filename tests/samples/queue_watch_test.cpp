// QueueWatch alone, on counters made up for the purpose: when a pool's
// queue shows connections that waited over the threshold, and when it does
// not (a busy pool of short requests keeps its queue moving).

#include "queue_watch.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>

namespace switchboard::cli {
namespace {

using namespace std::chrono_literals;

class QueueWatchTest : public testing::Test {
 protected:
  // The counters after `started` connections went to workers and `queued` wait.
  std::optional<std::string> observe(std::uint64_t started, std::uint64_t queued) {
    ServerStats s;
    s.total_requests = started + queued + refused;
    s.refused = refused;
    s.queued = queued;
    s.threads = 4;
    s.active_requests = 4;
    return watch.observe(now, s);
  }
  // Observes every tenth of a second for `span`, the queue as given; the lines said.
  std::string run(std::chrono::milliseconds span, std::uint64_t& started, std::uint64_t queued,
                  std::uint64_t started_per_tick = 0) {
    std::string said;
    for (auto end = now + span; now < end; now += 100ms) {
      started += started_per_tick;
      if (auto line = observe(started, queued)) said += *line;
    }
    return said;
  }

  QueueWatch watch{Seconds{1}, 100, Overload::block};
  QueueWatch::Clock::time_point now{};
  std::uint64_t refused = 0;
};

TEST_F(QueueWatchTest, StuckQueueIsSaidOnceAndItsEndToo) {
  std::uint64_t started = 4;
  EXPECT_EQ(run(900ms, started, 3), "");  // not yet a second
  EXPECT_EQ(run(200ms, started, 3),
            "warning: 3 connections have waited over 1 s for one of 4 workers; long-lived "
            "connections want --policy reactor or threading\n");
  EXPECT_EQ(run(5s, started, 3), "");
  EXPECT_EQ(run(100ms, started, 0), "no connection waits for a worker now\n");
  EXPECT_EQ(run(5s, started, 0), "");
  // Another episode, another warning.
  EXPECT_NE(run(2s, started, 2).find("warning: 2 connections"), std::string::npos);
}

TEST_F(QueueWatchTest, BusyPoolOfShortRequestsIsNotWarnedAbout) {
  std::uint64_t started = 0;
  // Always 50 waiting, but workers take 50 a tick: each waits a tenth of a second.
  EXPECT_EQ(run(10s, started, 50, 50), "");
  // 20 a tick: the 100 queued a second ago were all taken within it.
  EXPECT_EQ(run(10s, started, 100, 20), "");
}

TEST_F(QueueWatchTest, SlowQueueCountsOnlyThoseWaitingOverTheThreshold) {
  std::uint64_t started = 0;
  // 10 waiting; one taken (and one come) every 200 ms: 5 a second, so five
  // of those waiting a second ago still wait.
  std::string said;
  for (int tick = 1; tick <= 12; ++tick, now += 100ms) {
    if (tick % 2 == 0) ++started;
    if (auto line = observe(started, 10)) said += *line;
  }
  EXPECT_NE(said.find("warning: 5 connections have waited over 1 s"), std::string::npos) << said;
}

TEST_F(QueueWatchTest, QueueEmptyForAMomentStartsAfresh) {
  std::uint64_t started = 0;
  EXPECT_EQ(run(800ms, started, 5), "");
  EXPECT_EQ(run(100ms, started, 0), "");  // all taken: those waiting later waited less
  EXPECT_EQ(run(800ms, started, 5), "");
}

TEST_F(QueueWatchTest, FullQueueSaysWhatBecomesOfTheRest) {
  std::uint64_t started = 0;
  EXPECT_NE(run(2s, started, 100).find(" (the queue is full: more wait unaccepted);"),
            std::string::npos);
  QueueWatch refusing{Seconds{1}, 100, Overload::refuse};
  std::string said;
  ServerStats s;
  s.total_requests = 104;
  s.queued = 100;
  s.threads = 4;
  for (int tick = 0; tick <= 11; ++tick, now += 100ms)
    if (auto line = refusing.observe(now, s)) said += *line;
  EXPECT_NE(said.find(" (the queue is full: more are refused);"), std::string::npos) << said;
}

// Refused for want of descriptors: counted in `refused`, never in
// `total_requests`. Not taken for connections that never started.
TEST_F(QueueWatchTest, RefusalsOutOfDescriptorsAreNotMistakenForAStuckQueue) {
  std::string said;
  ServerStats s;
  s.threads = 4;
  s.queued = 10;
  for (int tick = 0; tick <= 30; ++tick, now += 100ms) {
    s.total_requests += 10;  // ten accepted, ten taken by workers
    s.refused += 15;         // more refused out of descriptors
    s.accept_errors += 15;
    if (auto line = watch.observe(now, s)) said += *line;
  }
  EXPECT_EQ(said, "");
}

TEST_F(QueueWatchTest, ObservesATenthOfTheThreshold) {
  EXPECT_EQ(watch.interval(), Seconds{0.1});
  EXPECT_EQ((QueueWatch{Seconds{0.05}, 1, Overload::block}.interval()), Seconds{0.01});
  EXPECT_EQ((QueueWatch{Seconds{60}, 1, Overload::block}.interval()), Seconds{1});
}

}  // namespace
}  // namespace switchboard::cli
