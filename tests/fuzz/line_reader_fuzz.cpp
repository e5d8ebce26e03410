// Both stream readers on a connection, checked against the line model: the
// blocking StreamReader, and the coroutine handlers' reader (the reactor's
// AsyncConnection, driven one operation at a time). They share one line
// buffer; each gets the same bytes in the same fuzzer-chosen pieces, so
// splits of a line, a '\n' or the limit across receives are tried.
//
// Input: the line model's fields (line_model.hpp), then u8 k and k piece
// sizes (1..128 bytes each); the rest of the payload follows in 4 KiB pieces.

#include <sys/socket.h>

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "line_model.hpp"
#include "reactor/async_connection.hpp"
#include "reactor/sweeper.hpp"
#include "switchboard/socket.hpp"

namespace {

using switchboard::fuzz::InputBytes;

// The coroutine handlers' reader, each call run to its end on an io_context
// of its own, as a blocking reader's would.
class AsyncReader {
 public:
  AsyncReader(int fd, std::size_t max_line)
      : options_(options_for(max_line)),
        sweeper_(io_, options_),
        conn_(io_, sweeper_, fd, AF_UNIX, options_, nullptr) {}
  std::string readline() { return run(conn_.readline()); }
  std::string read(std::size_t n) { return run(conn_.read(n)); }
  std::string read_some(std::size_t max) { return run(conn_.read_some(max)); }

 private:
  static switchboard::ServerOptions options_for(std::size_t max_line) {
    switchboard::ServerOptions o;
    o.max_line = max_line;
    o.timeout = o.write_timeout = o.first_request_timeout = switchboard::Seconds{0};
    return o;
  }
  std::string run(asio::awaitable<std::string> op) {
    std::optional<std::string> out;
    std::exception_ptr error;
    asio::co_spawn(io_, std::move(op), [&](std::exception_ptr e, std::string s) {
      error = e;
      out = std::move(s);
    });
    io_.restart();
    io_.run();
    if (error) std::rethrow_exception(error);
    if (!out) std::abort();  // the loop ran out of work with the read unfinished
    return *out;
  }

  asio::io_context io_{1};
  switchboard::ServerOptions options_;
  switchboard::detail::Sweeper sweeper_;
  switchboard::detail::AsyncConnection conn_;
};

// Sends `stream` in `pieces` from a thread, so that no socket buffer bounds
// the input, and runs `check` on the reading end. SOCK_SEQPACKET keeps each
// piece one receive, for a reader that always offers room for a whole piece
// (StreamReader: 16 KiB); the coroutine reader offers what its buffer has
// left, which would cut a record short, so it reads a byte stream.
template <class Check>
void over_a_connection(int type, std::string_view stream, const std::vector<std::size_t>& pieces,
                       Check check) {
  int fds[2];
  if (::socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, fds) != 0) std::abort();
  switchboard::Socket reading(fds[0]), writing(fds[1]);
  std::thread writer([&] {
    std::string_view left = stream;
    for (std::size_t i = 0; !left.empty(); ++i) {
      const std::size_t n = std::min(left.size(), i < pieces.size() ? pieces[i] : 4096);
      if (::send(writing.fd(), left.data(), n, MSG_NOSIGNAL) != static_cast<long>(n)) return;
      left.remove_prefix(n);
    }
    ::shutdown(writing.fd(), SHUT_WR);
  });
  check(reading);
  reading.close();  // a writer still blocked fails now
  writer.join();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  InputBytes in(data, size);
  const auto script = switchboard::fuzz::read_script(in);
  std::vector<std::size_t> pieces;
  for (std::uint8_t k = in.byte(); k > 0; --k) pieces.push_back(in.byte() % 128 + 1);
  const std::string_view stream = in.rest();

  over_a_connection(SOCK_SEQPACKET, stream, pieces, [&](switchboard::Socket& s) {
    switchboard::StreamReader reader(&s, nullptr, script.max_line);
    switchboard::fuzz::check_reader(reader, stream, script);
  });
  over_a_connection(SOCK_STREAM, stream, pieces, [&](switchboard::Socket& s) {
    AsyncReader reader(s.fd(), script.max_line);
    switchboard::fuzz::check_reader(reader, stream, script);
  });
  return 0;
}
