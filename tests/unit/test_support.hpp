#pragma once
// Shared helpers for the unit tests: a scratch directory and checks on hpct::Error messages.
#include <doctest/doctest.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace hpct::test {

// A fresh directory under the system temp dir, removed with everything in it.
struct TempDir {
  std::filesystem::path dir;
  TempDir() {
    static std::atomic<int> counter{0};
    dir = std::filesystem::temp_directory_path() /
          ("hpct_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (dir / name).string(); }
  std::vector<std::string> entries() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path().filename().string());
    return out;
  }
};

// The message of the hpct::Error that f throws, or a marker when it throws none.
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("<not an hpct::Error: ") + e.what() + ">";
  }
  return "<no exception>";
}

// Checks that f throws hpct::Error whose one-line message contains every part.
inline void check_error(const std::function<void()>& f, std::initializer_list<std::string> parts) {
  const std::string msg = error_of(f);
  INFO("message: " << msg);
  CHECK(msg.find('\n') == std::string::npos);
  for (const auto& p : parts) CHECK_MESSAGE(msg.find(p) != std::string::npos, "missing: " << p);
}

// f() throws hpct::Error whose message contains `needle`.
inline void check_throws_with(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
  } catch (const Error& e) {
    INFO("message: ", std::string(e.what()));
    CHECK(std::string(e.what()).find(needle) != std::string::npos);
    return;
  } catch (...) {
    FAIL_CHECK("threw something other than hpct::Error; expected a message containing: " << needle);
    return;
  }
  FAIL_CHECK("did not throw; expected an hpct::Error containing: " << needle);
}

// Bitwise equality (a NaN equals itself; +0 and -0 differ).
template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

}  // namespace hpct::test
