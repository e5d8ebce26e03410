// What handing one trivial request to each policy costs: a call, a new thread,
// the pool's queue, a forked child.

#include <benchmark/benchmark.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <switchboard/detail/workers.hpp>
#include <switchboard/socket.hpp>

namespace {

using switchboard::Request;

// A request the pool treats as real work (it has a reply socket), doing nothing.
Request trivial_request() {
  Request r;
  r.reply_socket = std::make_shared<switchboard::Socket>();
  return r;
}

class Countdown {
 public:
  void arrive() {
    if (left_.fetch_sub(1) == 1) {
      std::lock_guard lock(m_);
      cv_.notify_all();
    }
  }
  void reset(std::int64_t n) { left_ = n; }
  void wait() {
    std::unique_lock lock(m_);
    cv_.wait(lock, [&] { return left_.load() <= 0; });
  }

 private:
  std::atomic<std::int64_t> left_{0};
  std::mutex m_;
  std::condition_variable cv_;
};

void BM_Inline(benchmark::State& state) {
  std::function<void(Request&)> run = [](Request& r) { benchmark::DoNotOptimize(&r); };
  for (auto _ : state) {
    Request r = trivial_request();
    run(r);
  }
}
BENCHMARK(BM_Inline);

// Threading's shape of the engine: an idle thread, or a new one.
void BM_NewThread(benchmark::State& state) {
  Countdown done;
  switchboard::detail::Workers threads(
      {0, 0, std::chrono::milliseconds(1000), switchboard::detail::Workers::Wake::each},
      [&](Request&, bool) { done.arrive(); });
  for (auto _ : state) {
    done.reset(1);
    Request r = trivial_request();
    threads.submit(r);
    done.wait();
    threads.prune();
  }
}
BENCHMARK(BM_NewThread)->UseRealTime();

// The pool's shape: its workers started, a batch queued, one wake per batch.
void BM_PoolQueue(benchmark::State& state) {
  Countdown done;
  const auto n = static_cast<std::size_t>(state.range(0));
  switchboard::detail::Workers pool(
      {n, n, std::chrono::milliseconds::max(), switchboard::detail::Workers::Wake::at_batch},
      [&](Request&, bool) { done.arrive(); });
  constexpr int batch = 256;
  for (auto _ : state) {
    done.reset(batch);
    for (int i = 0; i < batch; ++i) {
      Request r = trivial_request();
      pool.submit(r);
    }
    pool.end_of_batch();
    done.wait();
  }
  state.SetItemsProcessed(state.iterations() * batch);
  pool.close(std::chrono::steady_clock::now() + std::chrono::seconds(1), [] {});
}
BENCHMARK(BM_PoolQueue)->Arg(1)->Arg(4)->Arg(16)->UseRealTime();

void BM_Fork(benchmark::State& state) {
  for (auto _ : state) {
    const pid_t pid = ::fork();
    if (pid == 0) ::_exit(0);
    ::waitpid(pid, nullptr, 0);
  }
}
BENCHMARK(BM_Fork)->UseRealTime();

}  // namespace
