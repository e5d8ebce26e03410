// Starts the server given as argv[1] on a free port, reads its listening
// line, has one line served (with the installed switchboard::ClientConnection),
// then stops it with SIGTERM. Exit status 0: served, and the server drained
// and exited 0.

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>
#include <switchboard/client.hpp>

extern char** environ;

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  int out[2];
  if (::pipe(out) != 0) return 1;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  char port_flag[] = "--port";
  char port[] = "0";
  char* args[] = {argv[1], port_flag, port, nullptr};
  pid_t pid = -1;
  const int spawned = ::posix_spawn(&pid, argv[1], &actions, nullptr, args, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) return 1;
  ::close(out[1]);

  // "listening on tcp://127.0.0.1:PORT\n": a byte at a time, each waited for 10 s at most.
  std::string line;
  pollfd readable{out[0], POLLIN, 0};
  for (char c; line.size() < 200 && ::poll(&readable, 1, 10'000) == 1 &&
               ::read(out[0], &c, 1) == 1 && c != '\n';)
    line += c;
  int status = 1;
  try {
    const std::string prefix = "listening on tcp://127.0.0.1:";
    if (line.rfind(prefix, 0) != 0) throw std::runtime_error("not a listening line: " + line);
    const auto number = static_cast<std::uint16_t>(std::stoi(line.substr(prefix.size())));
    switchboard::ClientConnection client({"127.0.0.1", number}, switchboard::Seconds{10});
    client.wfile.write("hello\n");
    const std::string reply = client.rfile.readline();
    if (reply != "HELLO\n") throw std::runtime_error("reply \"" + reply + "\"");
    std::printf("ok: %s answered \"HELLO\"\n", line.c_str() + 13);
    status = 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cli_client: %s\n", e.what());
  }
  ::kill(pid, SIGTERM);
  int raw = 0;
  while (::waitpid(pid, &raw, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(raw) || WEXITSTATUS(raw) != 0) {
    std::fprintf(stderr, "cli_client: the server did not exit 0 on SIGTERM (%d)\n", raw);
    status = 1;
  }
  return status;
}
