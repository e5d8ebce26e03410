// The stream handler's buffered readline() and write() over a socketpair.

#include <benchmark/benchmark.h>
#include <sys/socket.h>

#include <string>
#include <switchboard/socket.hpp>
#include <switchboard/stream.hpp>

namespace {

struct Pair {
  Pair() {
    int fds[2];
    ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds);
    a = switchboard::Socket(fds[0]);
    b = switchboard::Socket(fds[1]);
  }
  switchboard::Socket a, b;
};

constexpr int kLines = 64;  // a batch that fits in the socket buffer

void BM_Readline(benchmark::State& state) {
  Pair pair;
  const std::string line(static_cast<std::size_t>(state.range(0)) - 1, 'x');
  std::string batch;
  for (int i = 0; i < kLines; ++i) batch += line + "\n";
  switchboard::StreamReader reader(&pair.b, nullptr, 64 * 1024);
  for (auto _ : state) {
    pair.a.send_all(batch);
    for (int i = 0; i < kLines; ++i) benchmark::DoNotOptimize(reader.readline());
  }
  state.SetItemsProcessed(state.iterations() * kLines);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(batch.size()));
}
BENCHMARK(BM_Readline)->Arg(64)->Arg(1024)->Arg(16384 / kLines * 4);

// One line per receive, as in ping-pong: what each request's fill() costs.
void BM_ReadlineOnePerReceive(benchmark::State& state) {
  Pair pair;
  const std::string line = std::string(static_cast<std::size_t>(state.range(0)) - 1, 'x') + "\n";
  switchboard::StreamReader reader(&pair.b, nullptr, 64 * 1024);
  for (auto _ : state) {
    pair.a.send_all(line);
    benchmark::DoNotOptimize(reader.readline());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ReadlineOnePerReceive)->Arg(64)->Arg(4096);

void BM_Write(benchmark::State& state) {
  Pair pair;
  const std::string line(static_cast<std::size_t>(state.range(0)) - 1, 'x');
  const std::string with_newline = line + "\n";
  switchboard::StreamWriter writer(&pair.a);
  std::string sink(kLines * with_newline.size(), '\0');
  for (auto _ : state) {
    for (int i = 0; i < kLines; ++i) writer.write(with_newline);
    writer.flush();
    std::size_t got = 0;
    while (got < sink.size()) got += pair.b.recv_some(sink.data() + got, sink.size() - got);
  }
  state.SetItemsProcessed(state.iterations() * kLines);
}
BENCHMARK(BM_Write)->Arg(64)->Arg(1024);

}  // namespace
