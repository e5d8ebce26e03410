// fault_server's magic-line parser (tests/fault_server/magic_line.hpp), the
// one request framing of the project besides lines themselves, checked
// against a plain restatement of its contract.
//
// Input: one line as a client sends it.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "magic_line.hpp"

namespace {

using switchboard::fault::Fault;

// The contract, written out separately: exact keywords; "SLEEP" and nothing
// but decimal digits worth at most kMaxSleep; anything else an ordinary line.
switchboard::fault::Magic expected(std::string_view text) {
  if (text == "BOOM") return {Fault::boom};
  if (text == "BOOM42") return {Fault::boom42};
  if (text == "OOM") return {Fault::oom};
  if (text == "HANG") return {Fault::hang};
  if (text == "WHOAMI") return {Fault::whoami};
  if (text.substr(0, 5) != "SLEEP" || text.size() == 5) return {};
  std::uint64_t ms = 0;
  for (char c : text.substr(5)) {
    if (c < '0' || c > '9') return {};
    ms = ms * 10 + static_cast<std::uint64_t>(c - '0');
    if (ms > static_cast<std::uint64_t>(switchboard::fault::kMaxSleep.count())) return {};
  }
  return {Fault::sleep, std::chrono::milliseconds(ms)};
}

[[noreturn]] void fail(const char* what, std::string_view line) {
  std::fprintf(stderr, "magic line: %s for \"%.*s\"\n", what, static_cast<int>(line.size()),
               line.data());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  const std::string_view text = switchboard::fault::strip_newline(line);
  // One trailing "\n" or "\r\n" goes, nothing else.
  std::string_view want_text = line;
  if (want_text.ends_with('\n')) {
    want_text.remove_suffix(1);
    if (want_text.ends_with('\r')) want_text.remove_suffix(1);
  }
  if (text.data() != line.data() || text != want_text) fail("strip_newline()", line);
  const auto got = switchboard::fault::parse_magic(text);
  const auto want = expected(text);
  if (got.fault != want.fault || got.sleep != want.sleep) fail("parse_magic()", line);
  return 0;
}
