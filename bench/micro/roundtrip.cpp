// One 64-byte request and its echo over loopback TCP, in process, per policy;
// and under the reactor, per handler style (coroutine, restartable, whole).

#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <string>
#include <switchboard/coroutine.hpp>
#include <switchboard/switchboard.hpp>
#include <thread>

namespace {

struct LineEcho : switchboard::StreamRequestHandler {
  void handle() override {
    for (auto line = rfile.readline(); !line.empty(); line = rfile.readline()) wfile.write(line);
  }
};

struct CoLineEcho : switchboard::AsyncStreamRequestHandler {
  asio::awaitable<void> handle_async() override {
    for (auto line = co_await rfile.readline(); !line.empty(); line = co_await rfile.readline())
      co_await wfile.write(line);
  }
};

double process_cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// Round trips on one connection; the counter `cpu_us` is the CPU the whole
// process (client and server threads) spends per round trip, which the load
// on a shared machine distorts less than the time does.
void ping_pong(benchmark::State& state, switchboard::BaseServer& server) {
  std::thread serving([&] { server.serve_forever(); });
  double cpu0 = 0;
  {
    auto client = switchboard::Socket::open(AF_INET, SOCK_STREAM);
    client.set_option(IPPROTO_TCP, TCP_NODELAY, 1);
    const auto& a = server.server_address();
    if (::connect(client.fd(), a.data(), a.size()) != 0) state.SkipWithError("connect failed");
    const std::string request(63, 'x');
    const std::string line = request + "\n";
    std::string reply(line.size(), '\0');
    cpu0 = process_cpu_seconds();
    for (auto _ : state) {
      client.send_all(line);
      std::size_t got = 0;
      while (got < reply.size()) got += client.recv_some(reply.data() + got, reply.size() - got);
    }
  }
  state.counters["cpu_us"] = benchmark::Counter(1e6 * (process_cpu_seconds() - cpu0) /
                                                static_cast<double>(state.iterations()));
  server.shutdown();
  serving.join();
  server.server_close();
}

void BM_RoundTrip(benchmark::State& state) {
  const auto policy = static_cast<switchboard::Policy>(state.range(0));
  auto server = switchboard::make_server(switchboard::Transport::tcp, policy, {"127.0.0.1", 0},
                                         switchboard::handler<LineEcho>);
  ping_pong(state, *server);
  state.SetLabel(std::string(switchboard::to_string(policy)));
}
BENCHMARK(BM_RoundTrip)->DenseRange(0, 4)->UseRealTime();

// The reactor's handler styles: a coroutine on the loop; a restartable
// blocking handler, parked on the loop between requests (each request a
// hand-off to a worker and back), with and without the worker's linger for
// the next request; a blocking handler held whole by a worker.
void BM_RoundTripReactor(benchmark::State& state) {
  const char* const styles[] = {"coroutine", "restartable", "restartable, no linger", "whole"};
  const switchboard::HandlerFactory factories[] = {
      switchboard::handler<CoLineEcho>, switchboard::restartable_handler<LineEcho>,
      switchboard::restartable_handler<LineEcho>, switchboard::handler<LineEcho>};
  switchboard::ServerOptions options;
  options.loops = 1;
  if (state.range(0) == 2) options.park_linger = switchboard::Seconds{0};
  switchboard::ReactorTCPServer server({"127.0.0.1", 0}, factories[state.range(0)], options);
  ping_pong(state, server);
  state.SetLabel(styles[state.range(0)]);
}
BENCHMARK(BM_RoundTripReactor)->DenseRange(0, 3)->UseRealTime();

}  // namespace
