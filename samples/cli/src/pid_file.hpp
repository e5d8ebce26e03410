#pragma once
// --pid-file: the master's PID, written whole (a new file renamed over the
// old, so a reader never sees half of it) and removed only by its own master.

#include <string>

namespace switchboard::cli {

/// Writes this process's PID to `path`; "" when done, else why not.
std::string write_pid_file(const std::string& path);
/// Removes `path` if it names this process: a newer master may have written its own.
void remove_pid_file_if_ours(const std::string& path);

}  // namespace switchboard::cli
