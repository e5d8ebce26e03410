#pragma once
// --stats-interval: a server's counters on stderr every few seconds, one line
// each ("stats: total=12 connections=3 ..."), for an operator watching it.

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "switchboard/server.hpp"

namespace switchboard::cli {

class StatsPrinter {
 public:
  /// Prints `server`'s stats every `interval` until destroyed; 0 prints nothing.
  StatsPrinter(const BaseServer& server, Seconds interval);
  /// The same, given to `sink` instead (a worker's report to its master).
  StatsPrinter(const BaseServer& server, Seconds interval,
               std::function<void(const ServerStats&)> sink);
  /// Stops and joins the printing thread.
  ~StatsPrinter();
  StatsPrinter(const StatsPrinter&) = delete;
  StatsPrinter& operator=(const StatsPrinter&) = delete;

 private:
  std::mutex mutex_;
  std::condition_variable stop_changed_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace switchboard::cli
