// loadgen: drives an echo-style server and reports throughput and latency.
//   loadgen --port 9999 --conns 16 --size 64 --duration 10
// Exit status: 0 when every request was answered, 1 when any failed or none
// was answered (the figures are printed all the same), 2 for bad flags.

#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <string>
#include <utility>

#include "load.hpp"

namespace {

void print_table(const loadgen::Config& c, const loadgen::Result& r) {
  auto us = [&](double q) { return r.latency.quantile(q) / 1e3; };
  std::printf("%s %s, %d connections, %zu B requests, %.1f s\n", c.proto.c_str(),
              c.mode == loadgen::Mode::pingpong  ? "ping-pong"
              : c.mode == loadgen::Mode::connect ? "connect-per-request"
                                                 : "open loop",
              c.conns, c.size, r.seconds);
  std::printf("  requests   %12llu  (%.0f req/s)\n", static_cast<unsigned long long>(r.requests),
              r.requests / r.seconds);
  std::printf("  latency us p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n", us(0.5), us(0.9),
              us(0.99), us(0.999), r.latency.max() / 1e3);
  std::printf(
      "  errors     %llu  (mismatch %llu, timeout %llu, refused %llu, reset %llu, other %llu)\n",
      static_cast<unsigned long long>(r.errors()), static_cast<unsigned long long>(r.mismatches),
      static_cast<unsigned long long>(r.timeouts), static_cast<unsigned long long>(r.refused),
      static_cast<unsigned long long>(r.resets), static_cast<unsigned long long>(r.other_errors));
  if (r.starved)
    std::printf("  starved    %llu of %d connections got no reply\n",
                static_cast<unsigned long long>(r.starved), c.conns);
  if (c.idle_conns)
    std::printf(
        "  idle       %llu of %d connected in %.1f s (%llu refused); %llu ended by the server\n",
        static_cast<unsigned long long>(r.idle.established), c.idle_conns, r.idle.connect_seconds,
        static_cast<unsigned long long>(r.idle.refused),
        static_cast<unsigned long long>(r.idle.closed));
}

void print_json(const loadgen::Config& c, const loadgen::Result& r) {
  auto us = [&](double q) { return r.latency.quantile(q) / 1e3; };
  const char* mode = c.mode == loadgen::Mode::pingpong  ? "pingpong"
                     : c.mode == loadgen::Mode::connect ? "connect"
                                                        : "rate";
  std::printf(
      "{\"proto\": \"%s\", \"mode\": \"%s\", \"conns\": %d, \"size\": %zu, \"threads\": %d, "
      "\"rate\": %.1f, \"seconds\": %.3f, \"requests\": %llu, \"rps\": %.1f, "
      "\"latency_us\": {\"p50\": %.2f, \"p90\": %.2f, \"p99\": %.2f, \"p999\": %.2f, \"max\": "
      "%.2f}, "
      "\"errors\": %llu, \"mismatches\": %llu, \"timeouts\": %llu, \"refused\": %llu, "
      "\"resets\": %llu, \"other_errors\": %llu, \"connects\": %llu, \"starved\": %llu, "
      "\"idle\": {\"conns\": %d, \"established\": %llu, \"refused\": %llu, \"closed\": %llu, "
      "\"connect_s\": %.3f}}\n",
      c.proto.c_str(), mode, c.conns, c.size, c.threads, c.rate, r.seconds,
      static_cast<unsigned long long>(r.requests), r.requests / r.seconds, us(0.5), us(0.9),
      us(0.99), us(0.999), r.latency.max() / 1e3, static_cast<unsigned long long>(r.errors()),
      static_cast<unsigned long long>(r.mismatches), static_cast<unsigned long long>(r.timeouts),
      static_cast<unsigned long long>(r.refused), static_cast<unsigned long long>(r.resets),
      static_cast<unsigned long long>(r.other_errors), static_cast<unsigned long long>(r.connects),
      static_cast<unsigned long long>(r.starved), c.idle_conns,
      static_cast<unsigned long long>(r.idle.established),
      static_cast<unsigned long long>(r.idle.refused),
      static_cast<unsigned long long>(r.idle.closed), r.idle.connect_seconds);
}

// Why the run failed, for stderr; empty when every request was answered.
// The figures go to stdout all the same: a script keeps them and sees the status.
std::string failure(const loadgen::Config& c, const loadgen::Result& r) {
  if (r.errors() == 0 && r.requests > 0) return {};
  const bool unix_socket = c.proto.rfind("unix", 0) == 0;
  const bool v6 = c.host.find(':') != std::string::npos;
  const std::string where = unix_socket ? c.path
                            : v6        ? "[" + c.host + "]:" + std::to_string(c.port)
                                        : c.host + ":" + std::to_string(c.port);
  if (r.requests == 0 && r.errors() == 0) return "no request was answered while measuring";
  if (r.requests == 0 && r.refused == r.errors())
    return std::to_string(r.refused) + " of " + std::to_string(r.connects) +
           " connects refused (is a server listening on " + where + "?)";
  std::string why;
  for (const auto& [count, kind] : {std::pair{r.mismatches, "mismatch"},
                                    {r.timeouts, "timeout"},
                                    {r.refused, "refused"},
                                    {r.resets, "reset"},
                                    {r.other_errors, "other"}})
    if (count) why += (why.empty() ? "" : ", ") + std::to_string(count) + " " + kind;
  return std::to_string(r.errors()) + " requests failed: " + why +
         (r.requests ? "" : "; none answered");
}

}  // namespace

int main(int argc, char** argv) {
  loadgen::Config c;
  std::string mode = "pingpong";
  bool json = false;
  const std::string name =
      argc > 0 ? std::filesystem::path(argv[0]).filename().string() : std::string("loadgen");
  CLI::App app{"Drives an echo-style server and reports requests/s and latency.", name};
  app.add_option("--proto", c.proto, "tcp, udp, unix or unix-dgram")
      ->check(CLI::IsMember({"tcp", "udp", "unix", "unix-dgram"}))
      ->capture_default_str();
  app.add_option("--host", c.host, "server host")->capture_default_str();
  app.add_option("--port", c.port, "server port")->capture_default_str();
  app.add_option("--path", c.path, "Unix socket path");
  app.add_option("--conns", c.conns, "concurrent connections")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--size", c.size, "request size in bytes (the last is '\\n')")
      ->check(CLI::Range(1, 16 * 1024 * 1024))
      ->capture_default_str();
  app.add_option("--duration", c.duration, "measured seconds")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--warmup", c.warmup, "seconds before measuring")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--threads", c.threads, "load threads")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--mode", mode,
                 "pingpong (closed loop), connect (a connection per request), rate (open loop)")
      ->check(CLI::IsMember({"pingpong", "connect", "rate"}))
      ->capture_default_str();
  app.add_option("--rate", c.rate, "open loop: requests per second in all")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--timeout", c.timeout, "seconds before a reply counts as timed out")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--idle-conns", c.idle_conns,
                 "stream: connections opened before the load that never send (the C10K case)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_flag("--json", json, "print one JSON document instead of the table");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "%s: %s (see --help)\n", name.c_str(), e.what());
    return 2;
  }
  c.mode = mode == "connect" ? loadgen::Mode::connect
           : mode == "rate"  ? loadgen::Mode::rate
                             : loadgen::Mode::pingpong;
  c.progress = ::isatty(STDERR_FILENO) != 0;
  // Thousands of connections need thousands of descriptors: take what the hard limit allows.
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
  try {
    const auto result = loadgen::run(c);
    json ? print_json(c, result) : print_table(c, result);
    std::fflush(stdout);
    if (const auto why = failure(c, result); !why.empty()) {
      std::fprintf(stderr, "%s: %s\n", name.c_str(), why.c_str());
      return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", name.c_str(), e.what());
    return 2;
  }
}
