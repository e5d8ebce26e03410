#pragma once
// Observing a process from outside, through /proc: what a black-box test can
// say about a server's descriptors, threads, memory, CPU time and sockets.
// Each call reads the files afresh; a process that is gone throws.

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace switchboard::test {

/// Open descriptors: the entries of /proc/PID/fd (under a sanitizer, less its
/// runtime's pipes to its symbolizer).
std::size_t open_fds(pid_t pid);
/// "Threads:" of /proc/PID/status.
std::size_t thread_count(pid_t pid);
/// Whether the process's main thread blocks `sig` ("SigBlk:" of /proc/PID/status).
bool blocks_signal(pid_t pid, int sig);
/// "VmRSS:" of /proc/PID/status, in KiB.
std::size_t rss_kib(pid_t pid);
/// utime + stime of /proc/PID/stat, in clock ticks (see ticks_per_second()).
std::uint64_t cpu_ticks(pid_t pid);
/// sysconf(_SC_CLK_TCK).
long ticks_per_second();

/// The process's children (of all its threads), from /proc/PID/task/*/children.
std::vector<pid_t> child_pids(pid_t pid);

/// TCP states as /proc/net/tcp writes them.
enum class TcpState : int {
  established = 0x01,
  time_wait = 0x06,
  close_wait = 0x08,
  listen = 0x0A
};
/// Sockets of this network namespace (IPv4 and IPv6) whose local port is `port`
/// and whose state is `state`: e.g. the server side of connections in CLOSE_WAIT.
std::size_t count_tcp_sockets(std::uint16_t port, TcpState state);

/// Raises this process's soft RLIMIT_NOFILE to its hard limit (children inherit
/// it); returns the soft limit now in force.
std::size_t raise_fd_limit();

}  // namespace switchboard::test
