#include "pid_file.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

namespace switchboard::cli {

std::string write_pid_file(const std::string& path) {
  const std::string temporary = path + ".new";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << ::getpid() << '\n';
    if (!out) return "cannot write the PID file " + temporary;
  }
  if (std::rename(temporary.c_str(), path.c_str()) < 0)
    return "cannot write the PID file " + path + ": " + std::strerror(errno);
  return {};
}

void remove_pid_file_if_ours(const std::string& path) {
  std::ifstream in(path);
  long pid = 0;
  if (in >> pid && pid == ::getpid()) ::unlink(path.c_str());
}

}  // namespace switchboard::cli
