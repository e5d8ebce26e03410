#include "load.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <queue>
#include <stdexcept>
#include <thread>

namespace loadgen {
namespace {

std::uint64_t to_ns(double seconds) { return static_cast<std::uint64_t>(seconds * 1e9); }

// A request's bytes depend on its connection and sequence number, so a reply
// meant for another connection or an older request never passes the check.
void fill_request(std::string& out, std::size_t size, std::uint64_t key) {
  out.resize(size);
  for (std::size_t i = 0; i + 1 < size; ++i) out[i] = static_cast<char>('a' + (key + i * 7) % 26);
  if (size) out[size - 1] = '\n';
}

struct Conn {
  int fd = -1;
  std::uint32_t id = 0;
  bool connecting = false;
  bool awaiting = false;  // a request is in flight
  bool eof_wait = false;  // connect mode: reply complete, waiting for the server's close
  std::string request;
  std::size_t sent = 0;
  std::size_t received = 0;
  std::uint64_t seq = 0;
  std::uint64_t origin = 0;      // latency is measured from here
  std::uint64_t deadline = 0;    // reply timeout
  std::uint64_t next_send = 0;   // rate mode: when the next request is due
  std::uint64_t queued_for = 0;  // rate mode: the due time it sits in the heap for
  std::uint64_t retry_at = 0;    // closed after an error: reopen then
  std::uint64_t answered = 0;    // replies while measuring
};

class Worker {
 public:
  Worker(const Config& config, const Target& target, std::uint32_t first, int count,
         std::uint64_t begin, std::uint64_t measure_from, std::uint64_t end)
      : c_(config), t_(target), measure_from_(measure_from), end_(end), conns_(count) {
    for (int i = 0; i < count; ++i) conns_[i].id = first + static_cast<std::uint32_t>(i);
    if (c_.mode == Mode::rate) {
      interval_ = static_cast<std::uint64_t>(1e9 * c_.conns / c_.rate);
      const std::uint64_t spacing = static_cast<std::uint64_t>(1e9 / c_.rate);
      for (auto& conn : conns_) {
        conn.next_send = conn.queued_for = begin + conn.id * spacing;
        due_.push({conn.next_send, index(conn)});
      }
    }
  }

  void run() {
    ep_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) throw std::runtime_error("epoll_create1 failed");
    for (auto& conn : conns_) open(conn, now_ns());
    epoll_event events[256];
    std::uint64_t next_scan = 0;
    // After the end, no new requests: replies in flight are read (for at most
    // a second) so that closing does not reset connections with unread data.
    const std::uint64_t stop = end_ + std::min<std::uint64_t>(to_ns(c_.timeout), 1'000'000'000);
    for (;;) {
      const std::uint64_t now = now_ns();
      if (now >= end_ &&
          (now >= stop || std::none_of(conns_.begin(), conns_.end(),
                                       [](const Conn& c) { return c.fd >= 0 && c.awaiting; })))
        break;
      if (now >= next_scan) {
        scan(now);
        next_scan = now + 10'000'000;
      }
      if (now < end_) fire_due(now);
      std::uint64_t wake = now < end_ ? std::min(next_scan, end_) : std::min(next_scan, stop);
      if (!due_.empty()) wake = std::min(wake, due_.top().first);
      // Nanosecond timeout: open-loop sends must not be batched per millisecond.
      const std::uint64_t wait = wake > now ? wake - now : 0;
      const timespec ts{static_cast<time_t>(wait / 1'000'000'000),
                        static_cast<long>(wait % 1'000'000'000)};
      const int n = ::epoll_pwait2(ep_, events, 256, &ts, nullptr);
      for (int i = 0; i < n; ++i) on_event(conns_[events[i].data.u32], events[i].events);
    }
    for (auto& conn : conns_) {
      if (conn.answered == 0) ++result.starved;
      close(conn);
    }
    ::close(ep_);
    result.seconds = static_cast<double>(end_ - measure_from_) / 1e9;
  }

  Result result;
  std::atomic<std::uint64_t> progress{0};

 private:
  std::uint32_t index(const Conn& conn) const {
    return static_cast<std::uint32_t>(&conn - conns_.data());
  }

  void open(Conn& conn, std::uint64_t now) {
    if (now >= end_) return;
    conn.fd = ::socket(t_.family, t_.type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (conn.fd < 0) return fail(conn, result.other_errors, now);
    ++result.connects;
    if (t_.family == AF_UNIX && t_.type == SOCK_DGRAM) {
      sa_family_t autobind = AF_UNIX;  // an abstract name of our own, so replies can find us
      ::bind(conn.fd, reinterpret_cast<sockaddr*>(&autobind), sizeof autobind);
    }
    if (t_.family != AF_UNIX && t_.type == SOCK_STREAM) {
      int one = 1;
      ::setsockopt(conn.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    conn.origin = now;
    conn.awaiting = conn.eof_wait = false;
    conn.connecting = false;
    if (::connect(conn.fd, reinterpret_cast<const sockaddr*>(&t_.addr), t_.len) < 0) {
      if (errno == EINPROGRESS) {
        conn.connecting = true;
        conn.deadline = now + to_ns(c_.timeout);
      } else {  // no Unix socket file (ENOENT) is no server listening, as ECONNREFUSED is
        const bool refused = errno == ECONNREFUSED || errno == EAGAIN || errno == ENOENT;
        return fail(conn, refused ? result.refused : result.other_errors, now);
      }
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
    ev.data.u32 = index(conn);
    ::epoll_ctl(ep_, EPOLL_CTL_ADD, conn.fd, &ev);
    if (conn.connecting) return;
    if (c_.mode == Mode::rate) return send_due(conn, now);
    start(conn, c_.mode == Mode::connect ? conn.origin : now);
  }

  void close(Conn& conn) {
    if (conn.fd >= 0) ::close(conn.fd);  // also removes it from the epoll set
    conn.fd = -1;
    conn.awaiting = conn.connecting = conn.eof_wait = false;
  }

  void fail(Conn& conn, std::uint64_t& counter, std::uint64_t now) {
    if (now < end_) ++counter;
    close(conn);
    conn.retry_at = now + 10'000'000;  // no hot loop against a server that is down
  }

  void start(Conn& conn, std::uint64_t origin) {
    fill_request(conn.request, c_.size, conn.id * 1'000'003ULL + conn.seq);
    conn.sent = conn.received = 0;
    conn.origin = origin;
    conn.deadline = now_ns() + to_ns(c_.timeout);
    conn.awaiting = true;
    send(conn);
  }

  void send(Conn& conn) {
    while (conn.sent < conn.request.size()) {
      const ssize_t n = ::send(conn.fd, conn.request.data() + conn.sent,
                               conn.request.size() - conn.sent, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return;  // the edge-triggered EPOLLOUT brings us back
        return fail(conn,
                    errno == EPIPE || errno == ECONNRESET ? result.resets : result.other_errors,
                    now_ns());
      }
      conn.sent += static_cast<std::size_t>(n);
    }
    if (c_.mode == Mode::connect && t_.type == SOCK_STREAM) ::shutdown(conn.fd, SHUT_WR);
  }

  void on_event(Conn& conn, std::uint32_t events) {
    if (conn.fd < 0) return;
    if (conn.connecting) {
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(conn.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err)
        return fail(conn, err == ECONNREFUSED ? result.refused : result.other_errors, now_ns());
      if (!(events & EPOLLOUT)) return;
      conn.connecting = false;
      if (c_.mode == Mode::rate) return send_due(conn, now_ns());
      return start(conn, c_.mode == Mode::connect ? conn.origin : now_ns());
    }
    if ((events & EPOLLOUT) && conn.awaiting && conn.sent < conn.request.size()) send(conn);
    if (conn.fd >= 0 && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) receive(conn);
  }

  void receive(Conn& conn) {
    char buf[64 * 1024];
    while (conn.fd >= 0) {
      const ssize_t n = ::recv(conn.fd, buf, sizeof buf, 0);
      const std::uint64_t now = now_ns();
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return;
        return fail(conn,
                    errno == ECONNRESET     ? result.resets
                    : errno == ECONNREFUSED ? result.refused
                                            : result.other_errors,
                    now);
      }
      if (n == 0) {
        if (conn.eof_wait) {  // connect mode: the server closed after its reply
          close(conn);
          open(conn, now);
          return;
        }
        return fail(conn, result.resets, now);
      }
      const auto got = static_cast<std::size_t>(n);
      const bool datagram = t_.type == SOCK_DGRAM;
      if (!conn.awaiting || conn.received + got > conn.request.size() ||
          (datagram && got != conn.request.size()) ||
          std::memcmp(buf, conn.request.data() + conn.received, got) != 0) {
        if (datagram) {  // a late reply to a request that timed out: not ours now
          if (now < end_) ++result.mismatches;
          continue;
        }
        return fail(conn, result.mismatches, now);
      }
      conn.received += got;
      if (conn.received == conn.request.size()) complete(conn, now);
    }
  }

  void complete(Conn& conn, std::uint64_t now) {
    if (conn.origin >= measure_from_ && now <= end_) {
      result.latency.record(now - conn.origin);
      ++result.requests;
      ++conn.answered;
      progress.store(result.requests, std::memory_order_relaxed);
    }
    conn.awaiting = false;
    ++conn.seq;
    if (now >= end_) return;
    switch (c_.mode) {
      case Mode::pingpong:
        return start(conn, now);
      case Mode::rate:
        return send_due(conn, now);
      case Mode::connect:
        if (t_.type == SOCK_DGRAM) {
          close(conn);
          return open(conn, now);
        }
        conn.eof_wait = true;
        return;
    }
  }

  // Rate mode: requests are due every interval whatever happened to the last
  // one; a request that could not go out on time goes out as soon as the
  // connection is free and is timed from when it was due, so a stalled server
  // shows in the latencies instead of slowing the load (coordinated omission).
  void send_due(Conn& conn, std::uint64_t now) {
    if (c_.mode != Mode::rate || conn.fd < 0 || conn.connecting || conn.awaiting) return;
    if (conn.next_send <= now) {
      const std::uint64_t due = conn.next_send;
      conn.next_send += interval_;
      return start(conn, due);
    }
    if (conn.queued_for != conn.next_send) {
      conn.queued_for = conn.next_send;
      due_.push({conn.next_send, index(conn)});
    }
  }

  void fire_due(std::uint64_t now) {
    while (!due_.empty() && due_.top().first <= now) {
      Conn& conn = conns_[due_.top().second];
      due_.pop();
      conn.queued_for = 0;
      send_due(conn, now);
    }
  }

  void scan(std::uint64_t now) {
    for (auto& conn : conns_) {
      if (conn.fd < 0) {
        if (now >= conn.retry_at) open(conn, now);
        continue;
      }
      if ((conn.awaiting || conn.connecting || conn.eof_wait) && now > conn.deadline) {
        if (t_.type == SOCK_DGRAM && c_.mode == Mode::pingpong && now < end_) {
          ++result.timeouts;
          start(conn, now);  // a lost datagram: send the next one
        } else {
          fail(conn, result.timeouts, now);
        }
      }
    }
  }

  const Config& c_;
  const Target& t_;
  std::uint64_t measure_from_;
  std::uint64_t end_;
  std::vector<Conn> conns_;
  int ep_ = -1;
  std::uint64_t interval_ = 0;
  using Due = std::pair<std::uint64_t, std::uint32_t>;
  std::priority_queue<Due, std::vector<Due>, std::greater<>> due_;
};

}  // namespace

Target resolve(const Config& c) {
  Target t;
  t.type = (c.proto == "udp" || c.proto == "unix-dgram") ? SOCK_DGRAM : SOCK_STREAM;
  if (c.proto == "unix" || c.proto == "unix-dgram") {
    sockaddr_un sun{};
    if (c.path.empty() || c.path.size() >= sizeof sun.sun_path)
      throw std::invalid_argument("--path must name a Unix socket (at most 107 bytes)");
    sun.sun_family = AF_UNIX;
    std::memcpy(sun.sun_path, c.path.data(), c.path.size());
    t.family = AF_UNIX;
    std::memcpy(&t.addr, &sun, sizeof sun);
    t.len = sizeof sun;
    return t;
  }
  if (c.proto != "tcp" && c.proto != "udp")
    throw std::invalid_argument("--proto must be tcp, udp, unix or unix-dgram");
  addrinfo hints{};
  hints.ai_socktype = t.type;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(c.port);
  if (int rc = ::getaddrinfo(c.host.c_str(), port.c_str(), &hints, &res); rc != 0)
    throw std::invalid_argument("cannot resolve " + c.host + ": " + ::gai_strerror(rc));
  t.family = res->ai_family;
  std::memcpy(&t.addr, res->ai_addr, res->ai_addrlen);
  t.len = res->ai_addrlen;
  ::freeaddrinfo(res);
  return t;
}

void Result::merge(const Result& r) {
  latency.merge(r.latency);
  requests += r.requests;
  mismatches += r.mismatches;
  timeouts += r.timeouts;
  refused += r.refused;
  resets += r.resets;
  other_errors += r.other_errors;
  connects += r.connects;
  starved += r.starved;
  seconds = std::max(seconds, r.seconds);
}

Result run(const Config& config) {
  if (config.conns < 1 || config.threads < 1 || config.size < 1 || config.duration <= 0)
    throw std::invalid_argument("--conns, --threads, --size and --duration must be positive");
  if (config.mode == Mode::rate && config.rate <= 0)
    throw std::invalid_argument("--mode rate needs --rate > 0");
  const Target target = resolve(config);
  IdleConnections idle(target);
  if (config.idle_conns > 0) {
    if (target.type != SOCK_STREAM)
      throw std::invalid_argument("--idle-conns needs a stream protocol (tcp, unix)");
    idle.open(config.idle_conns, 30);  // before the load: they hold what they hold
    // For whoever times the load from outside (compare.py): it starts now.
    std::fprintf(stderr, "idle connected: %llu of %d in %.1f s\n",
                 static_cast<unsigned long long>(idle.result().established), config.idle_conns,
                 idle.result().connect_seconds);
    std::fflush(stderr);
  }
  const int threads = std::min(config.threads, config.conns);
  const std::uint64_t begin = now_ns();
  const std::uint64_t measure_from = begin + to_ns(config.warmup);
  const std::uint64_t end = measure_from + to_ns(config.duration);

  std::vector<std::unique_ptr<Worker>> workers;
  std::uint32_t first = 0;
  for (int i = 0; i < threads; ++i) {
    const int count = config.conns / threads + (i < config.conns % threads ? 1 : 0);
    workers.push_back(
        std::make_unique<Worker>(config, target, first, count, begin, measure_from, end));
    first += static_cast<std::uint32_t>(count);
  }
  std::vector<std::thread> running;
  for (auto& w : workers) running.emplace_back([&w] { w->run(); });
  if (config.idle_conns > 0) running.emplace_back([&idle, end] { idle.watch(end); });

  if (config.progress) {  // one line a second, rewritten in place
    std::uint64_t last = 0;
    for (std::uint64_t tick = begin + 1'000'000'000; tick < end; tick += 1'000'000'000) {
      std::this_thread::sleep_for(std::chrono::nanoseconds(tick - now_ns()));
      std::uint64_t total = 0;
      for (auto& w : workers) total += w->progress.load(std::memory_order_relaxed);
      std::fprintf(stderr, "\r  %3.0fs  %12llu requests  %10llu req/s ", (tick - begin) / 1e9,
                   static_cast<unsigned long long>(total),
                   static_cast<unsigned long long>(total - last));
      last = total;
    }
    std::fprintf(stderr, "\r%60s\r", "");
  }
  for (auto& t : running) t.join();
  Result total;
  for (auto& w : workers) total.merge(w->result);
  total.idle = idle.result();
  return total;
}

}  // namespace loadgen
