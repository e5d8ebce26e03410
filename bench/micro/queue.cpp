// The pool's queue: moodycamel's BlockingConcurrentQueue against a mutex +
// condition variable queue, P producers and C consumers moving a fixed count.

#include <benchmark/benchmark.h>
#include <concurrentqueue/blockingconcurrentqueue.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace {

class MutexQueue {
 public:
  void enqueue(int v) {
    {
      std::lock_guard lock(m_);
      q_.push_back(v);
    }
    cv_.notify_one();
  }
  void wait_dequeue(int& v) {
    std::unique_lock lock(m_);
    cv_.wait(lock, [&] { return !q_.empty(); });
    v = q_.front();
    q_.pop_front();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<int> q_;
};

template <class Queue>
void BM_Queue(benchmark::State& state) {
  const int producers = static_cast<int>(state.range(0));
  const int consumers = static_cast<int>(state.range(1));
  constexpr int items = 1 << 16;
  for (auto _ : state) {
    Queue q;
    std::vector<std::thread> threads;
    for (int p = 0; p < producers; ++p)
      threads.emplace_back([&, p] {
        for (int i = p; i < items; i += producers) q.enqueue(i);
      });
    for (int c = 0; c < consumers; ++c)
      threads.emplace_back([&] {  // each consumer takes its share, so all items are taken
        int v = 0;
        for (int n = 0; n < items / consumers; ++n) q.wait_dequeue(v);
        benchmark::DoNotOptimize(v);
      });
    for (auto& t : threads) t.join();
  }
  state.SetItemsProcessed(state.iterations() * items);
}

BENCHMARK(BM_Queue<moodycamel::BlockingConcurrentQueue<int>>)
    ->ArgsProduct({{1, 2, 4}, {1, 2, 4}})
    ->UseRealTime();
BENCHMARK(BM_Queue<MutexQueue>)->ArgsProduct({{1, 2, 4}, {1, 2, 4}})->UseRealTime();

}  // namespace
