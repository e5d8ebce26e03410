#pragma once
// What every adversarial scenario shares: the servers under test, the suite's
// sizes (small in CI, large with SWITCHBOARD_SOAK=1), looser bounds under
// sanitizers (SWITCHBOARD_SANITIZE=address|thread), a server started with its
// stderr in a file (so that its log never blocks it), and the `figures:` line
// each scenario prints for the closing note.

#include <gtest/gtest.h>
#include <signal.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "crowd.hpp"
#include "policies.hpp"
#include "server_stats.hpp"
#include "support/client.hpp"
#include "support/proc.hpp"
#include "support/process.hpp"
#include "support/server_process.hpp"
#include "support/temp_dir.hpp"

namespace switchboard::test {

inline const std::string kEchoServer = ECHO_SERVER;
inline const std::string kFaultServer = FAULT_SERVER;

// --- sizes and bounds ----------------------------------------------------------

/// SWITCHBOARD_SOAK=1: the large sizes.
bool soak();
/// SWITCHBOARD_SANITIZE's value ("address", "thread"), "" when unset.
const std::string& sanitizer();
inline bool sanitized() { return !sanitizer().empty(); }
/// `ci` normally, `soak_size` with SWITCHBOARD_SOAK=1.
inline std::size_t sized(std::size_t ci, std::size_t soak_size) { return soak() ? soak_size : ci; }
/// A time bound from the contract (or a generous one), stretched under sanitizers.
Duration bound(Duration normal);
/// The descriptors this test process may open (its soft limit, raised at start).
std::size_t fd_limit();
/// Skips the test (with the reason) unless `needed` descriptors are available.
#define SKIP_UNLESS_FDS(needed)                                                          \
  do {                                                                                   \
    if (::switchboard::test::fd_limit() < (needed))                                      \
      GTEST_SKIP() << "needs " << (needed) << " descriptors, RLIMIT_NOFILE allows only " \
                   << ::switchboard::test::fd_limit();                                   \
  } while (0)

// --- figures -------------------------------------------------------------------

/// Collects a scenario's figures; on destruction prints one line
/// "figures: Suite.Test key=value ..." and records each as a test property.
class Figures {
 public:
  Figures() = default;
  Figures(const Figures&) = delete;
  Figures& operator=(const Figures&) = delete;
  ~Figures();
  template <class T>
  Figures& add(const std::string& key, const T& value) {
    std::ostringstream text;
    text << value;
    entries_.emplace_back(key, text.str());
    return *this;
  }

 private:
  std::vector<std::pair<std::string, std::string>> entries_;
};

/// Waits until `condition()` holds, looking every few milliseconds: for states
/// seen only from outside (/proc, a log file) that have nothing to wait on.
/// False if it still does not hold at the deadline.
bool eventually(const std::function<bool()>& condition, Duration timeout = kTimeout);

/// Milliseconds between two instants, as a double.
double ms_between(Clock::time_point from, Clock::time_point to);

// --- servers -------------------------------------------------------------------

/// A server under test, its stderr in `dir`/NAME.log.
struct Server {
  Server(ServerProcess p, ServerLog l) : process(std::move(p)), log(std::move(l)) {}
  Server(Server&&) = default;
  /// Fails the test if the server's stderr holds a sanitizer report (the
  /// sanitizer builds run this suite too; the log file goes with the test's TempDir).
  ~Server();

  ServerProcess process;
  ServerLog log;

  pid_t pid() const { return process.process.pid(); }
  const Listening& at() const { return process.listening; }
  /// SIGTERM and the contract: exit 0 within `timeout` (stretched under sanitizers).
  void expect_clean_stop(Duration timeout = kTimeout);
};

/// Starts `program` with --proto and --policy, on port 0 or at `dir`/NAME.sock
/// (unless `extra` gives --port or --path), plus `extra` flags. Throws (with the server's stderr)
/// if it does not start.
Server start(const std::string& program, const std::string& proto, const PolicyCase& policy,
             const TempDir& dir, const std::vector<std::string>& extra = {},
             const std::string& name = "server");

/// A client of `l` (tcp, udp, unix, unix-dgram; a Unix datagram client binds `name` in `dir`).
Client client_of(const Listening& l, const TempDir& dir, const std::string& name = "client.sock");

/// One line sent, the same line back, on a fresh connection; "" on success, else what went wrong.
std::string echo_check(const Listening& l, const TempDir& dir, Duration timeout = kTimeout);

/// Milliseconds from now until a connect to the stream server `l` is refused
/// (its listener closed; ENOENT too for a Unix server that removed its file);
/// negative if it never was within `timeout`. Between probes it drives
/// `crowd`, if given, so that what its clients see is timed too.
double ms_until_refused(const Listening& l, Duration timeout, Crowd* crowd = nullptr);

// --- parameters ----------------------------------------------------------------

inline const std::vector<std::string> kStreamTransports = {"tcp", "unix"};
inline const std::vector<std::string> kDatagramTransports = {"udp", "unix-dgram"};

/// A transport and a policy: what most scenarios are run for.
using TransportPolicy = std::tuple<std::string, PolicyCase>;
/// ("unix-dgram", pool) -> "unix_dgram_pool", for test names.
std::string transport_policy_name(const testing::TestParamInfo<TransportPolicy>& info);
/// Each of `transports` with each of `policies`.
inline auto each_of(const std::vector<std::string>& transports,
                    const std::vector<PolicyCase>& policies) {
  return testing::Combine(testing::ValuesIn(transports), testing::ValuesIn(policies));
}

/// A scenario run for one transport and one policy, in a temporary directory of its own.
class TransportPolicyTest : public testing::TestWithParam<TransportPolicy> {
 protected:
  const std::string& transport() const { return std::get<0>(GetParam()); }
  const PolicyCase& policy() const { return std::get<1>(GetParam()); }
  /// start() with this test's transport and policy.
  Server start_with(const std::string& program, const std::vector<std::string>& extra = {},
                    const std::string& name = "server") {
    return start(program, transport(), policy(), dir, extra, name);
  }

  TempDir dir;
};

/// "pool" -> "pool", for test names.
inline std::string policy_name(const testing::TestParamInfo<PolicyCase>& info) {
  return info.param.name;
}
inline std::ostream& operator<<(std::ostream& os, const PolicyCase& p) { return os << p.name; }

}  // namespace switchboard::test
