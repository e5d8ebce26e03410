#pragma once
// The magic lines fault_server understands, parsed by a pure function (no I/O,
// no allocation) so that it can be unit-tested and fuzzed on its own.

#include <chrono>
#include <string_view>

namespace switchboard::fault {

/// What a line asks the fault server to do.
enum class Fault {
  none,    ///< an ordinary line: echo it
  boom,    ///< "BOOM": the handler throws std::runtime_error
  boom42,  ///< "BOOM42": the handler throws the int 42
  oom,     ///< "OOM": the handler throws std::bad_alloc
  sleep,   ///< "SLEEP<ms>": sleep that long (not cut short by shutdown), then echo
  hang,    ///< "HANG": block until the connection ends or the close deadline passes
  whoami,  ///< "WHOAMI": reply with the client address the server sees
};

/// The longest SLEEP honoured; a larger number makes an ordinary line.
inline constexpr std::chrono::milliseconds kMaxSleep{60000};

struct Magic {
  Fault fault = Fault::none;
  std::chrono::milliseconds sleep{0};  ///< for Fault::sleep
};

/// `line` without one trailing "\n" or "\r\n" (a datagram: without one trailing newline).
std::string_view strip_newline(std::string_view line) noexcept;

/// What `text` (already stripped of its newline) asks for. Exact matches only:
/// "BOOM " or "boom" are ordinary lines, and so is "SLEEP" followed by anything
/// but decimal digits worth at most kMaxSleep.
Magic parse_magic(std::string_view text) noexcept;

}  // namespace switchboard::fault
