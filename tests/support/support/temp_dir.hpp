#pragma once
// A fresh directory per test (tests run in parallel), removed with everything
// in it when the test ends. Under /tmp, so Unix socket paths fit sun_path.

#include <string>
#include <string_view>

namespace switchboard::test {

class TempDir {
 public:
  /// mkdtemp("/tmp/sbtest-XXXXXX"). Throws std::system_error.
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  /// path() + "/" + name.
  std::string file(std::string_view name) const;

 private:
  std::string path_;
};

}  // namespace switchboard::test
