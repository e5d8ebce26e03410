#include "magic_line.hpp"

#include <charconv>
#include <cstdint>

namespace switchboard::fault {

std::string_view strip_newline(std::string_view line) noexcept {
  if (!line.ends_with('\n')) return line;
  line.remove_suffix(1);
  if (line.ends_with('\r')) line.remove_suffix(1);
  return line;
}

Magic parse_magic(std::string_view text) noexcept {
  if (text == "BOOM") return {Fault::boom};
  if (text == "BOOM42") return {Fault::boom42};
  if (text == "OOM") return {Fault::oom};
  if (text == "HANG") return {Fault::hang};
  if (text == "WHOAMI") return {Fault::whoami};
  constexpr std::string_view sleep = "SLEEP";
  if (!text.starts_with(sleep)) return {};
  const std::string_view digits = text.substr(sleep.size());
  // from_chars alone would take a digit prefix ("12x"): the whole rest must be digits.
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string_view::npos) return {};
  std::uint64_t ms = 0;
  const auto parsed = std::from_chars(digits.data(), digits.data() + digits.size(), ms);
  if (parsed.ec != std::errc{} || ms > static_cast<std::uint64_t>(kMaxSleep.count())) return {};
  return {Fault::sleep, std::chrono::milliseconds(ms)};
}

}  // namespace switchboard::fault
