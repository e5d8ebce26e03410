#pragma once
// The policies the adversarial suite runs each scenario under: the one place
// to add one.

#include <string>
#include <vector>

namespace switchboard::test {

struct PolicyCase {
  std::string name;
  bool concurrent = true;              ///< serves several connections at once (not serial)
  bool thread_per_connection = false;  ///< its threads grow with the connections it holds
  bool process_per_request = false;    ///< a child process per connection or datagram
};

inline const std::vector<PolicyCase> kPolicies = {
    {.name = "serial", .concurrent = false},
    {.name = "threading", .thread_per_connection = true},
    {.name = "pool"},
    {.name = "forking", .process_per_request = true},
    {.name = "reactor"},
};

/// The policies for which `keep` holds, e.g. the concurrent ones.
inline std::vector<PolicyCase> policies_where(bool (*keep)(const PolicyCase&)) {
  std::vector<PolicyCase> out;
  for (const auto& p : kPolicies)
    if (keep(p)) out.push_back(p);
  return out;
}
inline bool concurrent(const PolicyCase& p) { return p.concurrent; }
inline bool any_policy(const PolicyCase&) { return true; }

}  // namespace switchboard::test
