#include "switchboard/handlers/timestamp.hpp"

#include <array>

namespace switchboard::handlers {

std::string ctime_string(std::time_t when) {
  std::tm local{};
  if (!::localtime_r(&when, &local)) return "?";
  std::array<char, 64> text{};
  const std::size_t n = std::strftime(text.data(), text.size(), "%a %b %e %H:%M:%S %Y", &local);
  return std::string(text.data(), n);
}

std::string ctime_now() { return ctime_string(std::time(nullptr)); }

// "[Wed Nov 25 02:52:00 2026] data": appended, not concatenated with +, which
// GCC 12 at -O3 misreads as an overlapping copy (a false -Wrestrict).
std::string timestamped(std::string_view data) {
  std::string reply = "[";
  reply += ctime_now();
  reply += "] ";
  reply += data;
  return reply;
}

void TimestampStreamHandler::handle() {
  try {
    for (std::string line = rfile.readline(); !line.empty(); line = rfile.readline())
      wfile.write(timestamped(line));
  } catch (const LineTooLong&) {
    // An abusive or confused client: drop the connection, not the server's
    // composure (no error report). finish() still sends the replies before it.
  }
}

void TimestampDatagramHandler::handle() { wfile.write(timestamped(packet())); }

}  // namespace switchboard::handlers
