// Per-kernel time on the CUDA backend against the kernel's floor: the FLOPs at the GPU's peak rate for
// the GEMMs (fp32, TF32, bf16), the bytes it must move at the peak memory bandwidth for the memory-bound
// kernels (LayerNorm, softmax, AdamW). Prints one row per kernel: time, achieved rate, floor and the
// fraction of the floor reached (100% = at peak). Through the Backend API, as the trainer calls them.
//   build/benchmarks/gpu_kernel_bench [--peak-fp32 TF] [--peak-tf32 TF] [--peak-bf16 TF] [--peak-gbs GB/s]
// The peaks default to the datasheet's dense figures of the GPU it finds (A100 SXM, H100 SXM/PCIe,
// H200); for another GPU give them (without them the floors are not printed). Exit 77 without a GPU.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <tuple>
#include <vector>

#include "core/buffer.hpp"
#include "kernels/kernels.hpp"

using namespace hpct;
using kernels::Backend;

namespace {

struct Peaks {
  double fp32 = 0, tf32 = 0, bf16 = 0;  // dense TFLOP/s
  double gbs = 0;                        // memory bandwidth, GB/s
};

// Datasheet dense peaks (TFLOP/s, GB/s) by device-name substring, most specific first.
Peaks datasheet(const std::string& name) {
  struct Entry {
    const char* key;
    Peaks p;
  };
  static const Entry table[] = {
      {"H200", {67.0, 494.7, 989.4, 4800.0}},
      {"H100 PCIe", {51.2, 378.0, 756.0, 2000.0}},
      {"H100", {67.0, 494.7, 989.4, 3350.0}},
      {"A100", {19.5, 156.0, 312.0, 2039.0}},
  };
  for (const Entry& e : table)
    if (name.find(e.key) != std::string::npos) return e.p;
  return {};
}

// Seconds per call of fn: a warm-up, then enough calls for ~0.2 s, between synchronizations.
double time_per_call(Backend& be, const std::function<void()>& fn) {
  fn();
  be.synchronize();
  int calls = 1;
  for (;;) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < calls; ++i) fn();
    be.synchronize();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (s > 0.2 || calls >= (1 << 16)) return s / calls;
    calls *= 4;
  }
}

void row(const char* kernel, const std::string& shape, double s, double work, bool flops, double peak) {
  const double rate = work / s / (flops ? 1e12 : 1e9);
  std::printf("%-22s %-28s %10.1f %10.1f %-7s", kernel, shape.c_str(), s * 1e6, rate, flops ? "TFLOP/s" : "GB/s");
  if (peak > 0) std::printf(" %10.1f %6.1f%%", work / (peak * (flops ? 1e12 : 1e9)) * 1e6, 100.0 * rate / peak);
  std::printf("\n");
}

std::string dims(std::initializer_list<std::int64_t> d) {
  std::string s;
  for (const std::int64_t v : d) {
    if (!s.empty()) s.push_back('x');
    s.append(std::to_string(v));
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  std::string why;
  if (kernels::cuda_device_count(&why) == 0) {
    std::printf("skipped: no GPU (%s)\n", why.c_str());
    return 77;
  }
  try {
    auto be = kernels::make_cuda_backend(kernels::local_rank_from_env());
    auto be_tf32 = kernels::make_cuda_backend(kernels::local_rank_from_env(), {}, false, /*tf32=*/true);
    const int device = std::atoi(be->name().substr(be->name().find(':') + 1).c_str());
    const std::string gpu = kernels::cuda_device_name(device);
    Peaks peak = datasheet(gpu);
    for (int i = 1; i + 1 < argc; i += 2) {
      const double v = std::atof(argv[i + 1]);
      if (!std::strcmp(argv[i], "--peak-fp32")) peak.fp32 = v;
      else if (!std::strcmp(argv[i], "--peak-tf32")) peak.tf32 = v;
      else if (!std::strcmp(argv[i], "--peak-bf16")) peak.bf16 = v;
      else if (!std::strcmp(argv[i], "--peak-gbs")) peak.gbs = v;
      else {
        std::fprintf(stderr, "gpu_kernel_bench: unknown option %s\n", argv[i]);
        return 2;
      }
    }
    std::printf("# GPU %s: peaks fp32 %.1f, tf32 %.1f, bf16 %.1f TFLOP/s, memory %.0f GB/s%s\n", gpu.c_str(),
                peak.fp32, peak.tf32, peak.bf16, peak.gbs,
                peak.gbs > 0 ? "" : " (unknown GPU: give --peak-* for the floors)");
    std::printf("%-22s %-28s %10s %10s %-7s %10s %7s\n", "kernel", "shape", "time(us)", "achieved", "unit",
                "floor(us)", "of peak");

    // GEMMs: C [m, n] = A [m, k] B [k, n], 2 m n k FLOPs.
    struct Gemm {
      std::int64_t m, n, k;
    };
    for (const Gemm g : {Gemm{4096, 4096, 4096}, Gemm{8192, 1024, 4096}, Gemm{16384, 4096, 1024}}) {
      for (const auto& [label, dtype, tf32] : {std::tuple{"gemm fp32", DType::f32, false},
                                              std::tuple{"gemm tf32", DType::f32, true},
                                              std::tuple{"gemm bf16", DType::bf16, false}}) {
        Backend& b = tf32 ? *be_tf32 : *be;
        Buffer a(b.allocator(), Shape{g.m, g.k}, dtype), w(b.allocator(), Shape{g.k, g.n}, dtype),
            c(b.allocator(), Shape{g.m, g.n}, dtype);
        b.fill(a, 0.01);
        b.fill(w, 0.02);
        const double s = time_per_call(b, [&] { b.gemm(a, false, w, false, c); });
        const double p = dtype == DType::bf16 ? peak.bf16 : tf32 ? peak.tf32 : peak.fp32;
        row(label, dims({g.m, g.n, g.k}) + " (mxnxk)", s, 2.0 * g.m * g.n * g.k, true, p);
      }
    }

    // Memory-bound kernels: the bytes each must read and write once.
    const std::int64_t rows = 32768, cols = 1024;
    for (const DType t : {DType::f32, DType::bf16}) {
      const double e = static_cast<double>(size_of(t));
      Buffer x(be->allocator(), Shape{rows, cols}, t), y(be->allocator(), Shape{rows, cols}, t);
      Buffer gamma(be->allocator(), Shape{cols}, t), beta(be->allocator(), Shape{cols}, t);
      Buffer mean(be->allocator(), Shape{rows}, kernels::stats_dtype(t)),
          rstd(be->allocator(), Shape{rows}, kernels::stats_dtype(t));
      be->fill(x, 0.5);
      be->fill(gamma, 1.0);
      be->fill(beta, 0.0);
      const std::string shape = dims({rows, cols}) + " " + name_of(t);
      double s = time_per_call(*be, [&] { be->layernorm_forward(x, gamma, beta, y, mean, rstd, 1e-5); });
      row("layernorm forward", shape, s, 2.0 * rows * cols * e + 8.0 * rows, false, peak.gbs);
      s = time_per_call(*be, [&] { be->softmax_forward(x, y); });
      row("softmax forward", shape, s, 2.0 * rows * cols * e, false, peak.gbs);
    }
    {
      const std::int64_t n = 64 << 20;  // 64 M fp32 parameters
      Buffer p(be->allocator(), Shape{n}, DType::f32), g(be->allocator(), Shape{n}, DType::f32),
          m(be->allocator(), Shape{n}, DType::f32), v(be->allocator(), Shape{n}, DType::f32);
      Buffer control(be->allocator(), Shape{kernels::StepControl::kSize}, DType::f64);
      for (Buffer* b : {&p, &g, &m, &v}) be->fill(*b, 0.01);
      const std::vector<double> c = {1.0, 0.0, 1.0, 0.0};  // multiplier 1, no skip, step 1
      be->copy(control, Tensor(const_cast<double*>(c.data()), Shape{kernels::StepControl::kSize}, DType::f64));
      const double s = time_per_call(*be, [&] { be->adamw_step(p, Tensor{}, g, m, v, {}, control); });
      row("adamw step", dims({n}) + " float32", s, 7.0 * 4.0 * n, false, peak.gbs);  // read p g m v, write p m v
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gpu_kernel_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
