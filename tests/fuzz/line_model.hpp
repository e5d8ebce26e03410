#pragma once
// What StreamReader must return, worked out from the bytes alone, and a
// driver that runs a fuzzer-chosen script of readline / read(n) / read_some
// against a reader and the model side by side. A difference aborts, with the
// details on stderr, which is what a fuzzer (or the corpus replay) reports.
//
// Input layout (every field optional: missing bytes read as 0):
//   u16 max_line (mod 301; 0 = no limit) | u8 n | n script bytes | payload...
// A script byte b means readline() if b % 3 == 0, read(b / 3) if 1,
// read_some(b / 3 + 1) if 2; the script repeats until the input is used up.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace switchboard {
class StreamReader;
}

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

/// Runs `script` on `reader`, whose input is exactly `stream` followed by the
/// end of input, checking every result against the model; then reads what
/// is left and checks that too. Aborts on the first difference.
void check_reader(StreamReader& reader, std::string_view stream, const Script& script);

}  // namespace switchboard::fuzz
