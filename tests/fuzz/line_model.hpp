#pragma once
// What a stream reader must return, worked out from the bytes alone, and a
// driver that runs a fuzzer-chosen script of readline / read(n) / read_some
// against a reader (StreamReader, or the coroutine handlers' reader) and the
// model side by side. A difference aborts, with the
// details on stderr, which is what a fuzzer (or the corpus replay) reports.
//
// Input layout (every field optional: missing bytes read as 0):
//   u16 max_line (mod 301; 0 = no limit) | u8 n | n script bytes | payload...
// A script byte b means readline() if b % 3 == 0, read(b / 3) if 1,
// read_some(b / 3 + 1) if 2; the script repeats until the input is used up.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "switchboard/stream.hpp"

namespace switchboard::fuzz {

/// Reads the fields of a fuzzer input front to back; past the end, zeros.
class InputBytes {
 public:
  InputBytes(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  std::uint8_t byte() { return size_ ? (--size_, *data_++) : 0; }
  std::uint16_t u16() { return static_cast<std::uint16_t>(byte() | byte() << 8); }
  /// The next `n` bytes (fewer at the end).
  std::string_view take(std::size_t n);
  /// Everything not read yet.
  std::string_view rest() { return take(size_); }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
};

/// The limit and the script of an input, as laid out above.
struct Script {
  std::size_t max_line = 0;
  std::vector<std::uint8_t> ops;
};
Script read_script(InputBytes& in);

/// Prints what differed and aborts.
[[noreturn]] void mismatch(const char* what, std::size_t at, std::string_view got,
                           std::string_view want);

/// The contract, from the bytes: position `at` is what has been returned so far.
struct Model {
  std::string_view stream;
  std::size_t max_line;
  std::size_t at = 0;

  bool at_end() const { return at == stream.size(); }
  /// The next line with its '\n' (the last may lack one), or nothing when it
  /// is longer than max_line: LineTooLong, and nothing of it returned.
  std::optional<std::string_view> readline() const;
};

/// Runs `script` on `reader` (readline(), read(n), read_some(max)), whose
/// input is exactly `stream` followed by the end of input, checking every
/// result against the model; then reads what is left and checks that too.
/// Aborts on the first difference.
template <class Reader>
void check_reader(Reader& reader, std::string_view stream, const Script& script) {
  Model model{stream, script.max_line};
  // Bounded: every op either returns bytes or reaches the end, bar read(0).
  const std::size_t limit = 4 * (stream.size() + 8);
  bool ended = false;  // a result has shown the end of input
  for (std::size_t i = 0; i < limit && !ended; ++i) {
    const std::uint8_t op = script.ops[i % script.ops.size()];
    if (op % 3 == 0) {
      const auto want = model.readline();
      try {
        const std::string got = reader.readline();
        if (!want) mismatch("readline() returned an over-long line", model.at, got, "");
        if (got != *want) mismatch("readline()", model.at, got, *want);
        model.at += got.size();
        ended = got.empty();
      } catch (const LineTooLong& e) {
        if (want) mismatch("readline() threw LineTooLong", model.at, e.what(), *want);
        if (e.limit() != script.max_line) mismatch("LineTooLong::limit()", model.at, "", "");
        // Nothing of the line, not even later: the next readline() throws too.
        try {
          const std::string again = reader.readline();
          mismatch("readline() after LineTooLong returned", model.at, again, "");
        } catch (const LineTooLong&) {
        }
        return;  // a handler ends the connection here
      }
    } else if (op % 3 == 1) {
      const std::size_t n = op / 3;
      const std::string got = reader.read(n);
      const std::string_view want = model.stream.substr(model.at, n);
      if (got != want) mismatch("read(n)", model.at, got, want);
      model.at += got.size();
      ended = got.size() < n;
    } else {
      const std::size_t max = op / 3 + 1;
      const std::string got = reader.read_some(max);
      const std::string_view want = model.stream.substr(model.at, got.size());
      if (got.size() > max || got != want || got.empty() != model.at_end())
        mismatch("read_some(max)", model.at, got, model.stream.substr(model.at, max));
      model.at += got.size();
      ended = got.empty();
    }
  }
  // Whatever the script left: all of it, once, then the end, and it stays there.
  std::string tail;
  for (std::string chunk = reader.read_some(64 * 1024); !chunk.empty();
       chunk = reader.read_some(64 * 1024))
    tail += chunk;
  if (tail != model.stream.substr(model.at))
    mismatch("the rest", model.at, tail, model.stream.substr(model.at));
  if (!reader.readline().empty() || !reader.read(1).empty())
    mismatch("after the end", model.stream.size(), "more", "");
}

}  // namespace switchboard::fuzz
