// Standalone A/B of the batch-1 recurrent product (csrc/matvec.h) over a sequence of steps:
// does reading the column panels in alternating directions on successive steps (step t:
// panels 0..P-1, step t+1: P-1..0) keep the weight's last-read part in L2, and does software
// prefetch or another panel width help? Results: benchmarks/results/kernels_alternate.md.
//
//   g++ -O3 -march=native -fno-math-errno -fno-trapping-math -std=c++17 -o /tmp/alt_micro
//       benchmarks/kernels_alternate_micro.cpp                       (the flags of the build)
//   taskset -c 1 /tmp/alt_micro [rounds]
//
// Each step makes y = a op(W) (op(W) K x N, packed once into panels like pack_panels) and feeds
// a = 0.5 tanh(y[:K]) into the next step, so the steps form a chain as in a recurrent layer.
// Per round every variant runs T = 200 steps back to back (same process, interleaved); the
// minimum per-step time over rounds is printed. Every variant's final y is checked bit-equal
// to the forward order's.

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

std::vector<float> pack(const std::vector<float>& w, int64_t K, int64_t N, int64_t width) {
  const int64_t panels = (N + width - 1) / width;
  std::vector<float> data(size_t(panels * K * width), 0.0f);
  for (int64_t p = 0; p < panels; ++p) {
    const int64_t n0 = p * width, nb = std::min(width, N - n0);
    for (int64_t k = 0; k < K; ++k)
      std::memcpy(data.data() + (p * K + k) * width, w.data() + k * N + n0, sizeof(float) * nb);
  }
  return data;
}

// One panel of R registers (width 8 R), as matvec.h's apply_avx; prefetch: bytes ahead of the
// row being read (0: none), within the panel stream, or into the next panel to be read.
template <int R>
inline void panel(const float* __restrict a, const float* __restrict p, int64_t K,
                  const float* __restrict next, int64_t ahead, float* __restrict y) {
  constexpr int64_t W = 8 * R;
  __m256 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  const int64_t rows_ahead = ahead / int64_t(sizeof(float) * W);
  for (int64_t k = 0; k < K; ++k) {
    if (ahead > 0) {
      const int64_t kk = k + rows_ahead;
      const float* q = kk < K ? p + kk * W : (next ? next + (kk - K) * W : nullptr);
      if (q && (kk - K) < K)
        for (int64_t b = 0; b < W; b += 16) _mm_prefetch(reinterpret_cast<const char*>(q + b),
                                                        _MM_HINT_T0);
    }
    const __m256 ak = _mm256_set1_ps(a[k]);
    const float* row = p + k * W;
    for (int r = 0; r < R; ++r) acc[r] = _mm256_fmadd_ps(ak, _mm256_loadu_ps(row + 8 * r), acc[r]);
  }
  for (int r = 0; r < R; ++r) _mm256_storeu_ps(y + 8 * r, acc[r]);
}

struct Variant {
  std::string name;
  int regs;        // panel width / 8
  bool alternate;  // flip the panel order every step
  int64_t ahead;   // software prefetch distance in bytes (0: none)
};

template <int R>
double run_steps(const std::vector<float>& data, int64_t K, int64_t N, int T, bool alternate,
                 int64_t ahead, std::vector<float>& a, std::vector<float>& y) {
  constexpr int64_t W = 8 * R;
  const int64_t panels = (N + W - 1) / W;
  std::vector<float> ypad(static_cast<size_t>(panels * W));
  const auto t0 = std::chrono::steady_clock::now();
  for (int t = 0; t < T; ++t) {
    const bool back = alternate && (t & 1);
    for (int64_t i = 0; i < panels; ++i) {
      const int64_t p = back ? panels - 1 - i : i;
      const int64_t q = back ? p - 1 : p + 1;
      const float* next = (q >= 0 && q < panels) ? data.data() + q * K * W : nullptr;
      panel<R>(a.data(), data.data() + p * K * W, K, next, ahead, ypad.data() + p * W);
    }
    for (int64_t k = 0; k < K; ++k) a[k] = 0.5f * std::tanh(ypad[k % N]);
  }
  const auto t1 = std::chrono::steady_clock::now();
  std::copy(ypad.begin(), ypad.begin() + N, y.begin());
  return std::chrono::duration<double>(t1 - t0).count() / T;
}

double run(const Variant& v, const std::vector<float>& data, int64_t K, int64_t N, int T,
           std::vector<float>& y) {
  std::vector<float> a(static_cast<size_t>(K));
  for (int64_t k = 0; k < K; ++k) a[k] = 0.01f * float(k % 17) - 0.08f;
  switch (v.regs) {
    case 4: return run_steps<4>(data, K, N, T, v.alternate, v.ahead, a, y);
    case 12: return run_steps<12>(data, K, N, T, v.alternate, v.ahead, a, y);
    default: return run_steps<8>(data, K, N, T, v.alternate, v.ahead, a, y);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 15;
  const int T = 200;
  const std::vector<Variant> variants = {
      {"fwd64", 8, false, 0},        {"alt64", 8, true, 0},
      {"fwd64_pf512", 8, false, 512}, {"alt64_pf512", 8, true, 512},
      {"fwd64_pf2k", 8, false, 2048}, {"alt64_pf2k", 8, true, 2048},
      {"fwd32", 4, false, 0},        {"alt32", 4, true, 0},
      {"fwd96", 12, false, 0},       {"alt96", 12, true, 0},
  };
  std::printf("%-4s %-5s %5s %5s %8s", "H", "shape", "K", "N", "MB");
  for (const auto& v : variants) std::printf(" %11s", v.name.c_str());
  std::printf("   (us/step, min over %d rounds of T=%d)\n", rounds, T);
  for (int H : {64, 128, 256, 384, 512}) {
    for (int gates : {4, 3, 1}) {
      for (int backward = 0; backward < 2; ++backward) {
        // forward: y (G) = h (H) W^T, K = H, N = G; backward: dh (H) = dA (G) W, K = G, N = H
        const int64_t G = int64_t(gates) * H, K = backward ? G : H, N = backward ? H : G;
        std::vector<float> w(size_t(K * N));
        uint32_t s = 12345u + uint32_t(H * 7 + gates);
        for (auto& x : w) {  // uniform in [-0.1, 0.1), a fixed linear congruential sequence
          s = s * 1664525u + 1013904223u;
          x = (float(s >> 8) / 16777216.0f - 0.5f) * 0.2f;
        }
        std::vector<std::vector<float>> packed(variants.size());
        std::vector<double> best(variants.size(), 1e30);
        std::vector<std::vector<float>> out(variants.size(), std::vector<float>(size_t(N)));
        for (size_t i = 0; i < variants.size(); ++i)
          packed[i] = pack(w, K, N, 8 * variants[i].regs);
        for (int r = 0; r < rounds; ++r)
          for (size_t i = 0; i < variants.size(); ++i)
            best[i] = std::min(best[i], run(variants[i], packed[i], K, N, T, out[i]));
        const std::string shape = std::string(gates == 4 ? "L" : gates == 3 ? "G" : "R") +
                                  (backward ? "-bw" : "-fw");
        std::printf("%-4d %-5s %5ld %5ld %8.3f", H, shape.c_str(), long(K), long(N),
                    double(K * N * 4) / (1 << 20));
        for (size_t i = 0; i < variants.size(); ++i) {
          // bit-identity across orders of the same width (sums run over k in the same order)
          const size_t ref = variants[i].regs == 8 ? 0 : (variants[i].regs == 4 ? 6 : 8);
          const bool same = std::memcmp(out[i].data(), out[ref].data(), sizeof(float) * N) == 0;
          std::printf(" %10.2f%s", best[i] * 1e6, same ? " " : "!");
        }
        std::printf("\n");
        std::fflush(stdout);
      }
    }
  }
  return 0;
}
