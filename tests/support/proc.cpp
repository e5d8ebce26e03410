#include "support/proc.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>

namespace switchboard::test {
namespace {

std::string proc_path(pid_t pid, const char* file) {
  return "/proc/" + std::to_string(pid) + "/" + file;
}

std::ifstream open_or_throw(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::system_error(errno ? errno : ENOENT, std::generic_category(), path);
  return in;
}

// The number after "key:" in /proc/PID/status.
std::size_t status_field(pid_t pid, const std::string& key) {
  const std::string path = proc_path(pid, "status");
  std::ifstream in = open_or_throw(path);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with(key + ":")) return std::stoull(line.substr(key.size() + 1));
  }
  throw std::runtime_error(path + " has no " + key);
}

std::size_t count_in(const std::string& table, std::uint16_t port, TcpState state) {
  std::ifstream in(table);  // tcp6 may be missing without IPv6
  std::size_t count = 0;
  std::string line;
  std::getline(in, line);  // the header
  while (std::getline(in, line)) {
    // "  0: 0100007F:1F90 00000000:0000 0A ..." (IPv6: 32 hex digits before the ':')
    std::istringstream fields(line);
    std::string slot, local, remote, st;
    if (!(fields >> slot >> local >> remote >> st)) continue;
    const auto colon = local.rfind(':');
    if (colon == std::string::npos) continue;
    if (std::stoul(local.substr(colon + 1), nullptr, 16) == port &&
        std::stoi(st, nullptr, 16) == static_cast<int>(state))
      ++count;
  }
  return count;
}

}  // namespace

std::size_t open_fds(pid_t pid) {
  const std::string path = proc_path(pid, "fd");
  DIR* dir = ::opendir(path.c_str());
  if (!dir) throw std::system_error(errno, std::generic_category(), path);
  // A sanitizer runtime opens a pipe pair to its symbolizer the first time it
  // symbolizes a stack (a suppressed report too), and keeps it: not the
  // server's. Servers open no pipes themselves (a pipe on stdin is left out
  // alike before and after).
  static const bool sanitized = [] {
    const char* s = std::getenv("SWITCHBOARD_SANITIZE");
    return s && *s;
  }();
  std::size_t n = 0;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    if (sanitized) {
      char target[64] = {};
      const std::string link = path + "/" + entry->d_name;
      if (::readlink(link.c_str(), target, sizeof target - 1) > 0 &&
          std::string_view(target).starts_with("pipe:"))
        continue;
    }
    ++n;
  }
  ::closedir(dir);
  return n;
}

std::size_t thread_count(pid_t pid) { return status_field(pid, "Threads"); }

bool blocks_signal(pid_t pid, int sig) {
  const std::string path = proc_path(pid, "status");
  std::ifstream in = open_or_throw(path);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("SigBlk:"))  // a hex mask, bit N-1 for signal N
      return (std::stoull(line.substr(7), nullptr, 16) >> (sig - 1)) & 1;
  }
  throw std::runtime_error(path + " has no SigBlk");
}

std::size_t rss_kib(pid_t pid) { return status_field(pid, "VmRSS"); }

std::uint64_t cpu_ticks(pid_t pid) {
  const std::string path = proc_path(pid, "stat");
  std::ifstream in = open_or_throw(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
  const auto paren = text.rfind(')');
  if (paren == std::string::npos) throw std::runtime_error(path + ": unexpected format");
  std::istringstream fields(text.substr(paren + 1));
  std::string field;
  // Fields 3..13 (state .. cmajflt), then utime (14) and stime (15).
  for (int i = 3; i <= 13; ++i) fields >> field;
  std::uint64_t utime = 0, stime = 0;
  if (!(fields >> utime >> stime)) throw std::runtime_error(path + ": no utime/stime");
  return utime + stime;
}

std::vector<pid_t> child_pids(pid_t pid) {
  std::vector<pid_t> children;
  const std::string tasks = proc_path(pid, "task");
  DIR* dir = ::opendir(tasks.c_str());
  if (!dir) return children;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    std::ifstream in(tasks + "/" + entry->d_name + "/children");
    for (pid_t child; in >> child;) children.push_back(child);
  }
  ::closedir(dir);
  return children;
}

long ticks_per_second() { return ::sysconf(_SC_CLK_TCK); }

std::size_t count_tcp_sockets(std::uint16_t port, TcpState state) {
  return count_in("/proc/net/tcp", port, state) + count_in("/proc/net/tcp6", port, state);
}

std::size_t raise_fd_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0)
    throw std::system_error(errno, std::generic_category(), "getrlimit");
  // RLIM_INFINITY is not a valid descriptor limit: the kernel's nr_open caps it.
  const rlim_t most = limit.rlim_max == RLIM_INFINITY ? rlim_t{1} << 20 : limit.rlim_max;
  if (limit.rlim_cur < most) {
    limit.rlim_cur = most;
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0)
      throw std::system_error(errno, std::generic_category(), "setrlimit");
  }
  return static_cast<std::size_t>(limit.rlim_cur);
}

}  // namespace switchboard::test
