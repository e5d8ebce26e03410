#include "line_model.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include "switchboard/stream.hpp"

namespace switchboard::fuzz {
namespace {

[[noreturn]] void mismatch(const char* what, std::size_t at, std::string_view got,
                           std::string_view want) {
  std::fprintf(
      stderr, "line model: %s at offset %zu: got %zu bytes \"%.*s\", want %zu bytes \"%.*s\"\n",
      what, at, got.size(), static_cast<int>(std::min<std::size_t>(got.size(), 80)), got.data(),
      want.size(), static_cast<int>(std::min<std::size_t>(want.size(), 80)), want.data());
  std::abort();
}

// The contract, from the bytes: position `at` is what has been returned so far.
struct Model {
  std::string_view stream;
  std::size_t max_line;
  std::size_t at = 0;

  bool at_end() const { return at == stream.size(); }
  // The next line with its '\n' (the last may lack one), or nothing when it
  // is longer than max_line: LineTooLong, and nothing of it returned.
  std::optional<std::string_view> readline() const {
    const std::size_t nl = stream.find('\n', at);
    const std::size_t end = nl == std::string_view::npos ? stream.size() : nl + 1;
    if (max_line != 0 && end - at > max_line) return std::nullopt;
    return stream.substr(at, end - at);
  }
};

}  // namespace

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

void check_reader(StreamReader& reader, std::string_view stream, const Script& script) {
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
  for (std::string chunk = reader.read_some(); !chunk.empty(); chunk = reader.read_some())
    tail += chunk;
  if (tail != model.stream.substr(model.at))
    mismatch("the rest", model.at, tail, model.stream.substr(model.at));
  if (!reader.readline().empty() || !reader.read(1).empty())
    mismatch("after the end", model.stream.size(), "more", "");
}

}  // namespace switchboard::fuzz
