#pragma once
// Internal: the one worker engine, behind the pool, threading and the
// reactor's blocking handlers. Threads start up to a cap (all at once for the
// pool, one per request for threading, on first use for the reactor); idle
// ones retire after keep_idle (threading) or stay; tasks wait in a moodycamel
// queue; and the batch wake measured for datagrams is written here once:
// one thread wakes for a batch, and wakes another only if it leaves tasks
// behind with no idle thread awake. A thread busy with a slow task is not
// awake, so the next task still gets a thread of its own.
//
// Admission is the caller's (a Limit): this engine takes whatever it is given.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "switchboard/request.hpp"

namespace switchboard::detail {

/// Work that is not a Request (the reactor's connections and jobs).
class Job {
 public:
  /// Runs on a worker; may delete the job.
  virtual void run() noexcept = 0;

 protected:
  ~Job() = default;
};

class Workers {
 public:
  enum class Wake {
    each,      ///< a task wakes a thread at once, unless one awake is free for it
    at_batch,  ///< end_of_batch() wakes one for the batch, if none is awake
  };
  struct Config {
    std::size_t max_threads = 0;    ///< 0: no cap
    std::size_t start_threads = 0;  ///< started by the constructor
    /// An idle thread retires after this; max(): never.
    std::chrono::milliseconds keep_idle = std::chrono::milliseconds::max();
    Wake wake = Wake::each;
  };
  /// `serve(request, in_time)` runs a Request task; `in_time` is false past
  /// the close deadline, when it is to be closed unserved.
  Workers(Config config, std::function<void(Request&, bool in_time)> serve);
  /// close() at once.
  ~Workers();
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  /// Queues a task for an idle thread, or a new one below the cap, moving
  /// from `request` then. Throws std::system_error if no thread runs and none
  /// can start, and leaves `request` as it was. Thread safe.
  void submit(Request& request);
  void submit(Job& job);
  /// Wake::at_batch: wakes a thread for what was submitted, if none is awake.
  void end_of_batch();
  /// Lets the threads finish what is queued and running until `deadline`;
  /// then calls `force` (which cuts the connections), closes what is still
  /// queued unserved, waits for what runs, and joins every thread. Idempotent.
  void close(std::chrono::steady_clock::time_point deadline, const std::function<void()>& force);
  /// Joins the threads that retired. The producer's thread, now and then.
  void prune();

  std::size_t threads() const;  ///< started and not retired
  std::size_t busy() const;     ///< running a task
  std::size_t queued() const;   ///< queued and not yet taken
  std::size_t tracked() const;  ///< thread objects held: retired and unjoined ones included

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace switchboard::detail
