// libsystemd's sd_listen_fds_with_names() and sd_notify(): the checks
// systemd documents (LISTEN_PID names us, the variables are unset, the
// descriptors close-on-exec) are theirs, not written again here.

#include "switchboard/systemd.hpp"

#include <systemd/sd-daemon.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <system_error>

namespace switchboard::systemd {
namespace {

// sd_listen_fds_with_names()' names: a NULL-terminated array of malloc()ed strings.
struct FreeNames {
  void operator()(char** names) const noexcept {
    for (char** n = names; *n != nullptr; ++n) std::free(*n);
    std::free(names);
  }
};

}  // namespace

std::vector<ListenSocket> listen_sockets() {
  char** raw = nullptr;
  const int n = ::sd_listen_fds_with_names(1, &raw);  // 1: unset the variables
  const std::unique_ptr<char*, FreeNames> names(raw);
  if (n < 0)
    throw std::system_error(-n, std::generic_category(),
                            "socket activation: LISTEN_FDS, LISTEN_PID or LISTEN_FDNAMES");
  std::vector<ListenSocket> sockets;
  sockets.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    const char* name = names ? names.get()[i] : nullptr;
    sockets.push_back({Socket(SD_LISTEN_FDS_START + i), name ? name : "unknown"});
  }
  return sockets;
}

bool notify(std::string_view state) {
  const std::string text(state);  // sd_notify() takes a C string
  return ::sd_notify(0, text.c_str()) > 0;
}

}  // namespace switchboard::systemd
