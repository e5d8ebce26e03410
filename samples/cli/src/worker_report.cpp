#include <unistd.h>

#include <sstream>

#include "master.hpp"

namespace switchboard::cli {

void WorkerReport::say(const std::string& line) {
  const std::string text = line + "\n";
  [[maybe_unused]] auto n = ::write(fd_, text.data(), text.size());  // one write: under PIPE_BUF
}

void WorkerReport::ready() { say("ready"); }

void WorkerReport::stats(const ServerStats& now) {
  std::ostringstream line;
  line << "stats " << now;
  say(line.str());
}

void WorkerReport::recycle() { say("recycle"); }

}  // namespace switchboard::cli
