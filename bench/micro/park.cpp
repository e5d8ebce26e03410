// What unwinding a restartable handler costs: the reactor's per-request mode
// throws switchboard::Parked from the reader, through handle(), to the worker
// that runs it, once per request that finds nothing to read. Measured against
// the same depth of calls returning a flag, which a handler could not use
// (its loop would go on), and at two stack depths.

#include <benchmark/benchmark.h>

#include <string>
#include <switchboard/stream.hpp>

namespace {

// Frames of a handler between handle() and the reader, each with something to destroy.
[[gnu::noinline]] int reader(bool park) {
  if (park) throw switchboard::Parked{};
  return 1;
}
[[gnu::noinline]] int frame(int depth, bool park) {
  std::string local(32, 'x');  // a destructor to run on the way out
  const int r = depth == 0 ? reader(park) : frame(depth - 1, park);
  benchmark::DoNotOptimize(local);
  return r;
}

void BM_ParkUnwind(benchmark::State& state) {
  const int depth = static_cast<int>(state.range(0));
  for (auto _ : state) {
    try {
      frame(depth, true);
    } catch (const switchboard::Parked&) {
      benchmark::ClobberMemory();
    }
  }
}
BENCHMARK(BM_ParkUnwind)->Arg(2)->Arg(8);

void BM_ParkFlagReturn(benchmark::State& state) {
  const int depth = static_cast<int>(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(frame(depth, false));
}
BENCHMARK(BM_ParkFlagReturn)->Arg(2)->Arg(8);

}  // namespace
