// StreamReader on a connection: the bytes arrive in fuzzer-chosen pieces (a
// SOCK_SEQPACKET socketpair keeps each write one receive), so every split of
// a line, a '\n' or the limit across receives is tried.
//
// Input: the line model's fields (line_model.hpp), then u8 k and k piece
// sizes (1..128 bytes each); the rest of the payload follows in 4 KiB pieces.

#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "line_model.hpp"
#include "switchboard/socket.hpp"
#include "switchboard/stream.hpp"

using switchboard::fuzz::InputBytes;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  InputBytes in(data, size);
  const auto script = switchboard::fuzz::read_script(in);
  std::vector<std::size_t> pieces;
  for (std::uint8_t k = in.byte(); k > 0; --k) pieces.push_back(in.byte() % 128 + 1);
  const std::string_view stream = in.rest();

  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) std::abort();
  switchboard::Socket reading(fds[0]), writing(fds[1]);
  // A thread writes, so that no socket buffer bounds the input: it ends when
  // the stream is out (then the reader sees the end) or the reader is gone.
  std::thread writer([&] {
    std::string_view left = stream;
    for (std::size_t i = 0; !left.empty(); ++i) {
      const std::size_t n = std::min(left.size(), i < pieces.size() ? pieces[i] : 4096);
      if (::send(writing.fd(), left.data(), n, MSG_NOSIGNAL) != static_cast<long>(n)) return;
      left.remove_prefix(n);
    }
    ::shutdown(writing.fd(), SHUT_WR);
  });
  {
    switchboard::StreamReader reader(&reading, nullptr, script.max_line);
    switchboard::fuzz::check_reader(reader, stream, script);
  }
  reading.close();  // a writer still blocked fails now
  writer.join();
  return 0;
}
