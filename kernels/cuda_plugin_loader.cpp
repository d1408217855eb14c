// Finding and loading libhpctrain_cuda.so (kernels/cuda_plugin.hpp). Compiled in every build: with
// HPCTRAIN_HAVE_CUDA (set on this file only, by src/CMakeLists.txt, with the plugin's build path and
// build id) it loads the plugin; without, it says the build has none.
#include "kernels/cuda_plugin.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <vector>

#include "core/error.hpp"

namespace hpct::kernels {

namespace {
#ifdef HPCTRAIN_HAVE_CUDA
namespace fs = std::filesystem;

struct Loaded {
  void* handle = nullptr;
  std::string path, why;  // where it was loaded from, or why it was not
};

// The places named in cuda_plugin.hpp, in order; the first that exists is loaded.
std::string find_plugin() {
  if (const char* env = std::getenv("HPCTRAIN_CUDA_PLUGIN"); env && *env) return env;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  std::vector<fs::path> candidates;
  if (!ec) {
    candidates.push_back(exe.parent_path() / "libhpctrain_cuda.so");
    candidates.push_back(exe.parent_path().parent_path() / "lib" / "hpctrain" / "libhpctrain_cuda.so");
  }
  candidates.emplace_back(HPCTRAIN_CUDA_PLUGIN_BUILD_PATH);
  for (const fs::path& p : candidates)
    if (fs::exists(p, ec)) return p.string();
  return "";
}

const Loaded& plugin() {
  static Loaded loaded;
  static std::once_flag once;
  std::call_once(once, [] {
    const std::string path = find_plugin();
    if (path.empty()) {
      loaded.why = cat("the CUDA backend's plugin libhpctrain_cuda.so is not next to the program, in its ../lib/hpctrain, "
                       "nor at ", HPCTRAIN_CUDA_PLUGIN_BUILD_PATH, " (set HPCTRAIN_CUDA_PLUGIN to its path)");
      return;
    }
    // RTLD_NOW: a symbol the plugin needs but this program lacks is an error here, not a crash later.
    loaded.handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!loaded.handle) {
      const char* e = dlerror();
      loaded.why = cat("the CUDA backend ", path, " could not be loaded: ", e ? e : "unknown error");
      return;
    }
    loaded.path = path;
  });
  return loaded;
}
#else
constexpr const char* kNoCuda = "this hpctrain was built without the CUDA backend (HPCTRAIN_CUDA=OFF, or no nvcc)";
#endif
}  // namespace

#ifdef HPCTRAIN_HAVE_CUDA

bool cuda_backend_built() { return true; }

bool cuda_driver_present(std::string* why) {
  // The driver library is what every CUDA program loads first; without it there is no GPU to use.
  static void* const driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!driver && why) *why = "no CUDA driver on this machine (libcuda.so.1 is not installed)";
  return driver != nullptr;
}

void* cuda_plugin_symbol(const char* name, std::string* why) {
  const Loaded& p = plugin();
  if (!p.handle) {
    if (why) *why = p.why;
    return nullptr;
  }
  void* sym = dlsym(p.handle, name);
  if (!sym && why) *why = cat("the CUDA backend ", p.path, " has no entry point ", name);
  return sym;
}

const char* cuda_plugin_build_id() { return HPCTRAIN_CUDA_PLUGIN_BUILD_ID; }

std::string cuda_plugin_status() {
  const Loaded& p = plugin();
  return p.handle ? cat("loaded from ", p.path) : p.why;
}

#else

bool cuda_backend_built() { return false; }

bool cuda_driver_present(std::string* why) {
  if (why) *why = kNoCuda;
  return false;
}

void* cuda_plugin_symbol(const char* /*name*/, std::string* why) {
  if (why) *why = kNoCuda;
  return nullptr;
}

const char* cuda_plugin_build_id() { return ""; }

std::string cuda_plugin_status() { return kNoCuda; }

#endif

}  // namespace hpct::kernels
