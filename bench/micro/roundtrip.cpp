// One 64-byte request and its echo over loopback TCP, in process, per policy.

#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <string>
#include <switchboard/switchboard.hpp>
#include <thread>

namespace {

struct LineEcho : switchboard::StreamRequestHandler {
  void handle() override {
    for (auto line = rfile.readline(); !line.empty(); line = rfile.readline()) wfile.write(line);
  }
};

void BM_RoundTrip(benchmark::State& state) {
  const auto policy = static_cast<switchboard::Policy>(state.range(0));
  auto server = switchboard::make_server(switchboard::Transport::tcp, policy, {"127.0.0.1", 0},
                                         switchboard::handler<LineEcho>);
  std::thread serving([&] { server->serve_forever(); });
  {
    auto client = switchboard::Socket::open(AF_INET, SOCK_STREAM);
    client.set_option(IPPROTO_TCP, TCP_NODELAY, 1);
    const auto& a = server->server_address();
    if (::connect(client.fd(), a.data(), a.size()) != 0) state.SkipWithError("connect failed");
    const std::string request(63, 'x');
    const std::string line = request + "\n";
    std::string reply(line.size(), '\0');
    for (auto _ : state) {
      client.send_all(line);
      std::size_t got = 0;
      while (got < reply.size()) got += client.recv_some(reply.data() + got, reply.size() - got);
    }
  }
  server->shutdown();
  serving.join();
  server->server_close();
  state.SetLabel(std::string(switchboard::to_string(policy)));
}
BENCHMARK(BM_RoundTrip)->DenseRange(0, 3)->UseRealTime();

}  // namespace
