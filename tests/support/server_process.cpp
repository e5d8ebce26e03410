#include "support/server_process.hpp"

#include <charconv>
#include <sstream>
#include <stdexcept>

namespace switchboard::test {

std::optional<Listening> parse_listening_line(std::string_view line) {
  constexpr std::string_view prefix = "listening on ";
  if (!line.starts_with(prefix)) return std::nullopt;
  Listening l;
  l.url = line.substr(prefix.size());
  std::string_view rest = l.url;
  for (std::string_view scheme : {"unix-dgram:", "unix:"}) {
    if (rest.starts_with(scheme)) {
      l.scheme = scheme.substr(0, scheme.size() - 1);
      l.path = rest.substr(scheme.size());
      if (l.path.empty()) return std::nullopt;
      return l;
    }
  }
  const auto sep = rest.find("://");
  if (sep == std::string_view::npos) return std::nullopt;
  l.scheme = rest.substr(0, sep);
  if (l.scheme != "tcp" && l.scheme != "udp") return std::nullopt;
  rest.remove_prefix(sep + 3);
  const auto colon = rest.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view host = rest.substr(0, colon);
  if (host.starts_with('[') && host.ends_with(']')) host = host.substr(1, host.size() - 2);
  l.host = host;
  const std::string_view port = rest.substr(colon + 1);
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), l.port);
  if (ec != std::errc{} || end != port.data() + port.size() || l.port == 0 || l.host.empty())
    return std::nullopt;
  return l;
}

ServerProcess start_server(const std::string& program, const std::vector<std::string>& args,
                           Duration timeout) {
  return start_server(program, args, SpawnOptions{}, timeout);
}

ServerProcess start_server(const std::string& program, const std::vector<std::string>& args,
                           const SpawnOptions& options, Duration timeout) {
  ChildProcess child = ChildProcess::spawn(program, args, options);
  const auto line = child.read_line(timeout);
  const auto listening = line ? parse_listening_line(*line) : std::nullopt;
  if (!listening) {
    std::ostringstream why;
    why << program << ": no listening line";
    if (line) why << " (got '" << *line << "')";
    if (const auto status = child.wait(1s)) why << ", " << *status;
    why << "; stderr: " << child.drain_stderr();
    throw std::runtime_error(why.str());
  }
  return {std::move(child), *listening};
}

}  // namespace switchboard::test
