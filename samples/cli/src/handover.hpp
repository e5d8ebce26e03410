#pragma once
// USR2's hand-over of the listener from a master to the executable run again:
// socket activation's protocol (LISTEN_FDS=1, LISTEN_PID, LISTEN_FDNAMES,
// the socket at descriptor 3), and a pipe at descriptor 4, named by
// kUpgradeFdVariable, that the new master says "ready" on once its workers are.

#include <string>
#include <vector>

namespace switchboard::cli {

inline constexpr const char* kUpgradeFdVariable = "SWITCHBOARD_UPGRADE_FD";

/// In a forked child: runs `executable` with `argv` (argv[0] first), handing
/// it `listener` and `report_fd` as above, every signal unblocked. Exits 127,
/// saying why on stderr, if it cannot.
[[noreturn]] void exec_with_listener(int listener, int report_fd, const std::string& executable,
                                     const std::vector<std::string>& argv);

/// The new master's end: the pipe an upgrading master passed, unset from the
/// environment and close-on-exec; -1 if none.
int upgrade_pipe();

}  // namespace switchboard::cli
