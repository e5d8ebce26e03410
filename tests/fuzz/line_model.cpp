#include "line_model.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <optional>

namespace switchboard::fuzz {

[[noreturn]] void mismatch(const char* what, std::size_t at, std::string_view got,
                           std::string_view want) {
  std::fprintf(
      stderr, "line model: %s at offset %zu: got %zu bytes \"%.*s\", want %zu bytes \"%.*s\"\n",
      what, at, got.size(), static_cast<int>(std::min<std::size_t>(got.size(), 80)), got.data(),
      want.size(), static_cast<int>(std::min<std::size_t>(want.size(), 80)), want.data());
  std::abort();
}

std::optional<std::string_view> Model::readline() const {
  const std::size_t nl = stream.find('\n', at);
  const std::size_t end = nl == std::string_view::npos ? stream.size() : nl + 1;
  if (max_line != 0 && end - at > max_line) return std::nullopt;
  return stream.substr(at, end - at);
}

std::string_view InputBytes::take(std::size_t n) {
  n = std::min(n, size_);
  std::string_view out(reinterpret_cast<const char*>(data_), n);
  data_ += n;
  size_ -= n;
  return out;
}

Script read_script(InputBytes& in) {
  Script script;
  script.max_line = in.u16() % 301;
  const std::string_view ops = in.take(in.byte());
  script.ops.assign(ops.begin(), ops.end());
  if (script.ops.empty()) script.ops.push_back(0);  // readline() until the end
  return script;
}

}  // namespace switchboard::fuzz
