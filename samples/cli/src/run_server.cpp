#include <ifaddrs.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <functional>
#include <iostream>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>

#include "drain_watch.hpp"
#include "handover.hpp"
#include "inherited_socket.hpp"
#include "master.hpp"
#include "queue_watch.hpp"
#include "stats_printer.hpp"
#include "switchboard/cli.hpp"
#include "switchboard/make_server.hpp"
#include "switchboard/signals.hpp"
#include "switchboard/systemd.hpp"

namespace switchboard::cli {
namespace {

// The ranges of the count flags: what a real server could want, and no more
// than the machine can give without a confusing failure (a million threads
// made one by one, a size that wraps, a vector that cannot be reserved).
constexpr std::uint64_t kMaxThreads = 4096;
constexpr std::uint64_t kMaxLoops = 1024;
constexpr std::uint64_t kMaxChildren = 4096;
constexpr std::uint64_t kMaxQueued = 1'000'000;
constexpr std::uint64_t kMaxConnections = 1'000'000;
constexpr std::uint64_t kMaxLine = 64 << 20;
constexpr std::uint64_t kMaxDatagram = 16 << 20;  // the server allocates this much up front
constexpr std::uint64_t kMaxWorkers = 1024;
constexpr std::uint64_t kMaxRequests = 1'000'000'000;
// Long enough for any timeout a server wants (0 is "never"), short enough
// that a deadline computed from it cannot overflow the clock.
constexpr double kMaxSeconds = 1'000'000;

// --help is laid out for 80 columns: every flag with its default fits before
// the descriptions' column, and descriptions wrap within the rest.
constexpr std::size_t kHelpWidth = 80;
constexpr std::size_t kHelpColumn = 38;

struct Flags {
  std::string proto = "tcp";
  std::string host = "127.0.0.1";
  std::size_t port = 9999;
  std::string path;
  std::string policy = "threading";
  std::size_t threads = 0;  // 0: the policy's default
  std::size_t loops = ServerOptions{}.loops;
  std::size_t max_children = ServerOptions{}.max_children;
  std::size_t max_queued = ServerOptions{}.max_queued;
  std::size_t max_connections = ServerOptions{}.max_connections;
  std::string overload = "block";
  std::size_t max_line = ServerOptions{}.max_line;
  double idle_timeout = ServerOptions{}.timeout.count();
  double write_timeout = ServerOptions{}.write_timeout.count();
  double first_request_timeout = ServerOptions{}.first_request_timeout.count();
  double drain_timeout = ServerOptions{}.close_timeout.count();
  std::size_t max_datagram = ServerOptions{}.max_datagram;
  double stats_interval = 0;
  double queue_wait_warning = 5;
  std::size_t fd = 0;       // --fd; 0: none
  std::size_t workers = 0;  // 0: this process serves
  std::string pid_file;
  std::size_t max_requests = 0;  // 0: a worker serves until it is stopped
  bool reuseport = false;
  double drain_delay = 0;
};

// Spaces wrap() keeps, so that "(1 to 4096)" is not split over two lines.
constexpr char kKeep = '\x01';
std::string unbroken(std::string text) {
  for (char& c : text)
    if (c == ' ') c = kKeep;
  return text;
}

// `text` broken at spaces into lines that fit after the descriptions'
// column; CLI11 indents each line after a '\n' to that column.
std::string wrap(std::string text) {
  constexpr std::size_t width = kHelpWidth - kHelpColumn;
  // "0 = never" stays on one line.
  for (std::size_t at = 0; (at = text.find(" = ", at)) != std::string::npos; at += 3)
    text.replace(at, 3, {kKeep, '=', kKeep});
  std::istringstream words(text);
  std::string out;
  std::size_t line = 0;
  for (std::string word; words >> word;) {
    if (line > 0 && line + 1 + word.size() > width) {
      out += '\n';
      line = 0;
    } else if (line > 0) {
      out += ' ';
      ++line;
    }
    out += word;
    line += word.size();
  }
  for (char& c : out)
    if (c == kKeep) c = ' ';
  return out;
}

// A whole number in [min, max]. CLI11's own conversion would let "-1" through
// a size_t as a huge number and saturate one too long, so the text is checked
// first. The range is said in the description, so the type shows as a word.
CLI::Option* count_flag(CLI::App& app, const char* name, std::size_t& value,
                        const std::string& help, std::uint64_t min, std::uint64_t max,
                        bool show_default = true, const char* type = "N") {
  const std::string range = std::to_string(min) + " to " + std::to_string(max);
  CLI::Option* option = app.add_option(name, value, wrap(help + " " + unbroken("(" + range + ")")));
  if (show_default) option->capture_default_str();
  return option->type_name(type)->check(CLI::Validator(
      [min, max, range](const std::string& text) -> std::string {
        std::uint64_t n = 0;
        const char* end = text.data() + text.size();
        const auto [ptr, ec] = std::from_chars(text.data(), end, n);
        if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos ||
            ec != std::errc{} || ptr != end || n < min || n > max)
          return "expected a whole number from " + range + ", got '" + text + "'";
        return {};
      },
      "", "count"));
}

CLI::Option* seconds_flag(CLI::App& app, const char* name, double& value, const char* help) {
  return app.add_option(name, value, wrap(help))
      ->type_name("SECONDS")
      ->check(CLI::Validator(
          [](const std::string& text) -> std::string {
            char* end = nullptr;
            const double seconds = std::strtod(text.c_str(), &end);
            if (text.empty() || *end != '\0' || !std::isfinite(seconds) || seconds < 0 ||
                seconds > kMaxSeconds)
              return "expected seconds from 0 to " + std::to_string(std::lround(kMaxSeconds)) +
                     ", got '" + text + "'";
            return {};
          },
          "", "seconds"))
      ->capture_default_str();
}

CLI::Option* text_flag(CLI::App& app, const char* name, std::string& value, const std::string& help,
                       bool show_default = true) {
  CLI::Option* option = app.add_option(name, value, wrap(help));
  if (show_default) option->capture_default_str();
  return option;
}

// Out of descriptors is the first limit a busy server meets: take what the
// hard limit allows (as Go and nginx do), so max_connections is the limit.
void raise_descriptor_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

// Blocked from the start, SIGINT and SIGTERM wait for StopOnSignals' watcher,
// which alone unblocks them: one that comes while the server starts drains it
// (exit 0) instead of ending the process by the default action. Inherited by
// every thread (and child) the server starts, so none reaches a handler in recv().
void block_stop_signals() {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  ::pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
}

ServerOptions to_options(const Flags& f, Policy policy) {
  ServerOptions o;
  // --threads: the threads that run blocking handlers, whatever the policy
  // calls them (serial and forking have none).
  if (f.threads != 0) {
    if (policy == Policy::threading) {
      o.max_threads = f.threads;
    } else if (policy == Policy::pool || policy == Policy::reactor) {
      o.threads = f.threads;
    }
  }
  o.loops = f.loops;
  o.max_children = f.max_children;
  o.max_queued = f.max_queued;
  if (f.overload == "block") {
    o.overload = Overload::block;
  } else if (f.overload == "refuse") {
    o.overload = Overload::refuse;
  } else {
    throw std::invalid_argument("unknown overload '" + f.overload +
                                "' (expected one of: block, refuse)");
  }
  o.max_connections = f.max_connections;
  o.max_line = f.max_line;
  o.timeout = Seconds(f.idle_timeout);
  o.write_timeout = Seconds(f.write_timeout);
  o.first_request_timeout = Seconds(f.first_request_timeout);
  o.close_timeout = Seconds(f.drain_timeout);
  o.max_datagram = f.max_datagram;
  return o;
}

Address to_address(const Flags& f, Transport transport) {
  if (transport == Transport::tcp || transport == Transport::udp)
    return Address(f.host, static_cast<std::uint16_t>(f.port));
  if (f.path.empty())
    throw std::invalid_argument("--proto " + f.proto + " needs --path (the socket file)");
  return Address::unix_path(f.path);
}

bool is_link_local(const in6_addr& a) {
  return a.s6_addr[0] == 0xfe && (a.s6_addr[1] & 0xc0) == 0x80;
}

// bind() says only EINVAL for a link-local IPv6 address without a scope id
// (which interface's fe80::/10?). The hint names an interface that has one.
std::string scope_hint(const Address& address) {
  if (address.family() != AF_INET6) return {};
  const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(address.data());
  if (!is_link_local(sin6->sin6_addr) || sin6->sin6_scope_id != 0) return {};
  std::string interface = "eth0";
  if (ifaddrs* list = nullptr; ::getifaddrs(&list) == 0) {
    for (const ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
      if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET6) continue;
      if (is_link_local(reinterpret_cast<const sockaddr_in6*>(i->ifa_addr)->sin6_addr)) {
        interface = i->ifa_name;
        break;
      }
    }
    ::freeifaddrs(list);
  }
  return " (a link-local address needs a scope id: " + address.host() + "%" + interface + ")";
}

// The transports a server offers, for its --help and errors: "tcp, udp".
std::string offered(const Handlers& h, const char* stream, const char* datagram) {
  if (h.stream && h.datagram) return std::string(stream) + ", " + datagram;
  return h.stream ? stream : datagram;
}

std::string transports(const Handlers& h) {
  if (h.stream && h.datagram) return "tcp, udp, unix or unix-dgram";
  return h.datagram ? "udp or unix-dgram" : "tcp or unix";
}

// What USR2 runs again: the path the program was started by (so that a file
// replaced there, or a link moved, runs the new one), else the file running now.
std::string executable_path(const std::string& argv0) {
  if (argv0.find('/') != std::string::npos)
    return std::filesystem::absolute(argv0).lexically_normal().string();
  std::error_code ignored;
  return std::filesystem::read_symlink("/proc/self/exe", ignored).string();
}

// --drain-delay: on the signal watcher's thread, which has nothing else to
// do until the drain; serving goes on meanwhile. A second signal exits at once.
void delay_drain(Seconds delay) {
  std::ostringstream line;
  line << "stopping: serving " << delay.count() << " s more (--drain-delay), then draining";
  systemd::notify("STOPPING=1\nSTATUS=" + line.str());
  std::cerr << line.str() + "\n" << std::flush;
  std::this_thread::sleep_for(delay);
}

// One process's serving, from the listening line (or the master's report) to
// the end of the drain: the same for a single process and for each worker.
int serve(BaseServer& s, const Flags& f, Policy policy, WorkerReport* report) {
  const bool stream = s.socket_type() == SOCK_STREAM;
  // Only the pool holds a connection's worker for its whole life behind a queue.
  std::optional<QueueWatch> queue;
  if (policy == Policy::pool && stream && f.queue_wait_warning > 0)
    queue.emplace(Seconds(f.queue_wait_warning), s.options().max_queued, s.options().overload);
  std::function<void()> watch_queue;
  if (queue) {
    watch_queue = [&queue, &s] {
      if (auto line = queue->observe(QueueWatch::Clock::now(), s.stats()))
        std::cerr << *line << std::flush;  // one write: lines from threads never interleave
    };
  }
  Seconds tick_interval = queue ? queue->interval() : Seconds{1};
  if (report && f.max_requests > 0) {
    // Past its limit a worker asks the master for its replacement, at each
    // tick until it is retired (a replacement may fail to start).
    std::random_device random;
    const std::uint64_t limit = f.max_requests + std::uniform_int_distribution<std::uint64_t>(
                                                     0, f.max_requests / 10)(random);
    watch_queue = [watch = std::move(watch_queue), &s, limit, report] {
      if (watch) watch();
      if (s.stats().total_requests >= limit) report->recycle();
    };
    tick_interval = std::min(tick_interval, Seconds{0.1});
  }
  // Before StopOnSignals, whose watcher may call it, and destroyed after it.
  DrainWatch drain(s, Seconds(f.drain_timeout), std::move(watch_queue), tick_interval);
  // A worker's drain delay is its master's.
  const Seconds drain_delay(report ? 0 : f.drain_delay);
  // Installed before the listening line, so that whoever reads it may signal
  // at once. A worker retires on SIGQUIT, its master's reload.
  StopOnSignals stop(
      s,
      [&drain, drain_delay](int sig) {
        if (sig != SIGQUIT && drain_delay.count() > 0) delay_drain(drain_delay);
        drain.began(sig == SIGQUIT);
      },
      {SIGINT, SIGTERM},
      report ? std::initializer_list<int>{SIGQUIT} : std::initializer_list<int>{});
  // A worker's counters go to its master, which sums them.
  StatsPrinter stats = report
                           ? StatsPrinter(s, Seconds(f.stats_interval),
                                          [report](const ServerStats& now) { report->stats(now); })
                           : StatsPrinter(s, Seconds(f.stats_interval));
  if (report) {
    report->ready();
  } else {
    std::cout << "listening on " << s.url() << std::endl;
    systemd::notify("READY=1\nSTATUS=serving on " + s.url());  // Type=notify units
  }
  s.serve_forever();
  s.server_close();  // refuses new work now, drains up to --drain-timeout
  drain.closed();
  if (report) report->stats(s.stats());  // the last: its part of the master's totals
  return 0;
}

}  // namespace

int run_server(int argc, char** argv, std::string_view description, Handlers handlers) {
  block_stop_signals();  // first: a signal may come as soon as the process exists
  const std::string name =
      argc > 0 ? std::filesystem::path(argv[0]).filename().string() : std::string("server");
  if (!handlers.stream && !handlers.datagram) {
    std::cerr << name << ": run_server() was given no handler\n";
    return 1;
  }
  Flags f;
  if (!handlers.stream) f.proto = "udp";
  CLI::App app(std::string(description), name);
  app.get_formatter()->column_width(kHelpColumn);
  text_flag(app, "--proto", f.proto, transports(handlers));
  const std::string ip = offered(handlers, "tcp", "udp");
  const std::string local = offered(handlers, "unix", "unix-dgram");
  CLI::Option* host =
      text_flag(app, "--host", f.host, "address to bind (" + ip + "); ::1 for IPv6");
  CLI::Option* port =
      count_flag(app, "--port", f.port, "port to bind (" + ip + "); 0 picks a free one", 0, 65535,
                 true, "PORT");
  CLI::Option* path = text_flag(app, "--path", f.path, "socket file (" + local + ")", false);
  count_flag(app, "--fd", f.fd,
             "serve on this inherited socket (listening, for streams) of --proto's kind "
             "instead of binding; socket activation (LISTEN_FDS) does the same",
             3, 65535, false);
  text_flag(app, "--policy", f.policy, "serial, threading, pool, forking or reactor");
  count_flag(app, "--threads", f.threads,
             "threads that run blocking handlers: pool and reactor workers, 16 by default; "
             "threading's cap, none by default",
             1, kMaxThreads, false);
  count_flag(app, "--loops", f.loops, "reactor: event loops; 0 = one per CPU", 0, kMaxLoops);
  count_flag(app, "--max-children", f.max_children, "forking: child processes at once", 1,
             kMaxChildren);
  count_flag(app, "--max-queued", f.max_queued,
             "pool and reactor: connections waiting for a worker", 1, kMaxQueued);
  count_flag(app, "--max-connections", f.max_connections,
             "open connections, queued ones included; 0 = no limit", 0, kMaxConnections);
  text_flag(app, "--overload", f.overload, "at a limit: block (back-pressure) or refuse");
  if (handlers.stream && handlers.reads_lines)
    count_flag(app, "--max-line", f.max_line, "longest line, counting its newline", 1, kMaxLine);
  seconds_flag(app, "--idle-timeout", f.idle_timeout,
               "close a connection silent this long; 0 = never");
  seconds_flag(app, "--write-timeout", f.write_timeout,
               "give up on a client not reading this long; 0 = never");
  seconds_flag(app, "--first-request-timeout", f.first_request_timeout,
               "close a connection whose first request is not complete by then; 0 = never");
  seconds_flag(app, "--drain-timeout", f.drain_timeout,
               "on SIGINT/SIGTERM, how long requests in flight may finish; then the rest "
               "are cut and the process exits 0");
  if (handlers.datagram)
    count_flag(app, "--max-datagram", f.max_datagram, "larger datagrams are dropped", 1,
               kMaxDatagram);
  count_flag(app, "--workers", f.workers,
             "processes that serve, forked by a master that holds the socket (HUP reloads, "
             "TTIN/TTOU add or retire one); 0 = this process serves",
             0, kMaxWorkers);
  text_flag(app, "--pid-file", f.pid_file, "--workers: the master writes its PID here once ready",
            false)
      ->type_name("FILE");
  app.add_flag("--reuseport", f.reuseport,
               wrap("--workers, tcp and udp: each worker binds its own SO_REUSEPORT socket "
                    "rather than sharing the master's; what a closing worker's queue holds "
                    "is lost (docs/deployment.md)"));
  count_flag(app, "--max-requests", f.max_requests,
             "--workers: a worker that accepted this many connections (plus up to a tenth, "
             "at random) is replaced; 0 = never",
             0, kMaxRequests);
  seconds_flag(app, "--drain-delay", f.drain_delay,
               "on SIGTERM, serve on this long before the drain begins (while a load "
               "balancer stops sending)");
  seconds_flag(app, "--stats-interval", f.stats_interval,
               "print the counters on stderr this often; 0 = never");
  if (handlers.stream)
    seconds_flag(app, "--queue-wait-warning", f.queue_wait_warning,
                 "pool: say on stderr when connections have waited this long for a worker "
                 "(each holds one for its whole life); 0 = never");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << name << ": " << e.what() << " (see --help)\n";
    return 2;
  }
  // Checked here rather than by CLI11's excludes(), which would crowd --help.
  if ((!f.pid_file.empty() || f.max_requests != 0 || f.reuseport) && f.workers == 0) {
    std::cerr << name
              << ": --pid-file, --max-requests and --reuseport need --workers (see --help)\n";
    return 2;
  }
  if (f.fd != 0 && (host->count() + port->count() + path->count()) > 0) {
    std::cerr << name << ": --fd serves an inherited socket; --host, --port and --path bind one"
              << " (see --help)\n";
    return 2;
  }

  raise_descriptor_limit();
  std::string hint;  // for a bind() that fails
  try {
    const Transport transport = parse_transport(f.proto);
    const bool stream = is_stream(transport);
    if (!(stream ? handlers.stream : handlers.datagram))
      throw std::invalid_argument("--proto " + f.proto + ": this server serves " +
                                  transports(handlers) + " only");
    const Policy policy = parse_policy(f.policy);
    ServerOptions options = to_options(f, policy);
    std::optional<Socket> inherited = inherited_socket(f.fd, name);
    const Address address = inherited ? Address() : to_address(f, transport);
    hint = scope_hint(address);
    const bool reactor = policy == Policy::reactor;
    HandlerFactory factory =
        stream ? (reactor && handlers.reactor_stream ? handlers.reactor_stream : handlers.stream)
               : (reactor && handlers.reactor_datagram ? handlers.reactor_datagram
                                                       : handlers.datagram);
    if (f.workers == 0) {
      auto server = inherited ? make_server(transport, policy, std::move(*inherited),
                                            std::move(factory), std::move(options))
                              : make_server(transport, policy, address, std::move(factory),
                                            std::move(options));
      hint.clear();
      return serve(*server, f, policy, nullptr);
    }
    // The master's socket: bound (or adopted) by a server that never serves.
    // One handed over by an upgrading master is this master's own from now on.
    const int upgrade_fd = upgrade_pipe();
    if (f.reuseport && (inherited || !address.is_ip()))
      throw std::invalid_argument(
          "--reuseport binds a socket in each worker: tcp or udp, and not with a socket "
          "passed in (--fd, socket activation)");
    // --reuseport: the master only holds the address (bound, not listening:
    // the kernel gives connections to listening sockets alone).
    ServerOptions holder_options = options;
    if (f.reuseport) {
      holder_options.reuse_port = true;
      holder_options.bind_and_activate = false;
    }
    auto holder = inherited
                      ? make_server(transport, Policy::serial, std::move(*inherited), factory,
                                    options, /*borrow=*/upgrade_fd < 0)
                      : make_server(transport, Policy::serial, address, factory, holder_options);
    if (f.reuseport) holder->server_bind();
    hint.clear();
    const MasterConfig config{name,
                              f.workers,
                              Seconds(f.drain_timeout),
                              f.pid_file,
                              executable_path(argc > 0 ? argv[0] : ""),
                              std::vector<std::string>(argv, argv + argc),
                              upgrade_fd,
                              Seconds(f.drain_delay),
                              Seconds(f.stats_interval),
                              f.reuseport};
    return run_master(*holder, config, [&](Socket listener, WorkerReport& report) {
      if (f.reuseport) {  // a socket of its own on the master's address
        listener.close();
        ServerOptions own = options;
        own.reuse_port = true;
        auto server = make_server(transport, policy, holder->server_address(), factory, own);
        return serve(*server, f, policy, &report);
      }
      // The master's own socket the workers stop for good at a drain (the
      // master's stop), serving its backlog; one the master borrows (--fd,
      // systemd's) they borrow too. A retire leaves it alone either way.
      auto server = make_server(transport, policy, std::move(listener), factory, options,
                                holder->socket_borrowed());
      return serve(*server, f, policy, &report);
    });
  } catch (const std::invalid_argument& e) {
    std::cerr << name << ": " << e.what() << '\n';
    return 2;
  } catch (const std::system_error& e) {
    std::cerr << name << ": " << e.what()
              << (e.code() == std::errc::invalid_argument ? hint : std::string()) << '\n';
    return 1;
  } catch (const std::exception& e) {
    std::cerr << name << ": " << e.what() << '\n';
    return 1;
  }
}

}  // namespace switchboard::cli
