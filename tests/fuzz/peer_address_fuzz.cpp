// Address::from_sockaddr() and its readers on a peer address: the kernel
// fills it, but a Unix datagram client chooses every byte of its path (no
// NUL needed, abstract names, any length up to sun_path's 108 bytes).
//
// Input: u8 family (0 AF_INET, 1 AF_INET6, 2 AF_UNIX, else as given), then
// the bytes after sa_family; the address length is exactly what is given.

#include <sys/socket.h>
#include <sys/un.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "switchboard/address.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const sa_family_t families[] = {AF_INET, AF_INET6, AF_UNIX};
  const sa_family_t family = data[0] < 3 ? families[data[0]] : data[0];
  // Exactly as long as the address: ASan sees any read past it.
  std::vector<std::uint8_t> raw(sizeof(sa_family_t) + size - 1);
  std::memcpy(raw.data(), &family, sizeof family);
  std::memcpy(raw.data() + sizeof family, data + 1, size - 1);
  const auto address = switchboard::Address::from_sockaddr(
      reinterpret_cast<const sockaddr*>(raw.data()), static_cast<socklen_t>(raw.size()));

  const std::string path = address.path();
  const std::string text = address.to_string();
  const std::string host = address.host();
  [[maybe_unused]] const auto port = address.port();
  const bool ok = path.size() <= sizeof(sockaddr_un::sun_path) &&
                  path.find('\0') == std::string::npos && !text.empty() &&
                  (address.is_ip() ? !host.empty() : host.empty()) &&
                  (path.empty() || address.is_unix());
  if (!ok) {
    std::fprintf(stderr, "peer address: family %d, %zu bytes: path %zu bytes, text \"%s\"\n",
                 address.family(), raw.size(), path.size(), text.c_str());
    std::abort();
  }
  return 0;
}
