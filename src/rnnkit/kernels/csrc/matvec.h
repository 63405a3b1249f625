// rnnkit batch-1 recurrent product: y (N) = beta y + a (K) op(W), with op(W) K x N.
//
// Included by fused.cpp before RightOperand. At batch 1 the per-step recurrent product is a
// matrix-vector product; a GEMM call (packed or not) with M = 1 pays its dispatch and its
// M-blocking for one row. Here op(W) is copied once per sequence into column panels of
// kPanel columns, each panel K x kPanel contiguous (the tail panel zero-padded), so that a
// step streams the weight front to back exactly once:
//
//   for each panel p:  acc (kPanel) = beta y[p] ;  for k < K: acc += a[k] * panel_p[k, :]
//
// acc lives in registers (float32: 8 AVX registers of 8 lanes, fused multiply-add), so y is
// read and written once per step, and there is no horizontal reduction (an axpy form rather
// than N dot products). The copy costs one pass over W per call, about one step's traffic.
// RNNKIT_NO_MATVEC set (read at every construction) falls back to the GEMM path, for A/B timing.
//
// Successive products read the panels in alternating directions (0..P-1, then P-1..0, ...): a
// weight larger than L2 (an LSTM's from H 182: 512 KB) read in the same order every step loses
// each line just before it is needed again, whereas reversed, the step starts on the panels the
// last one read, still in L2. Each column's sum keeps its k order, so results are bit-identical.
// Measured (benchmarks/kernels_alternate*, results/kernels_alternate.md; one thread, shared
// 2-core Zen 3, L2 512 KB): the product alone 7-14% faster at H 256 (LSTM, GRU), 0-12% at
// H 384-512, unchanged where the weight fits L2; whole batch-1 layers 2-3% (median) faster.
// RNNKIT_NO_ALTERNATE set (read at every construction) keeps the forward order, for A/B timing
// and the bit-identity tests (tests/test_kernels_alternate.py).

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

namespace {

// op(W) (K x N; op(W)[k, n] = trans ? W[n * ld + k] : W[k * ld + n]) copied into column panels
// of `width` columns, each K x width contiguous, the tail panel zero-padded; returns the count.
// Shared by the batch-1 matvec and the small-batch panels (smallm.h).
template <typename S>
int64_t pack_panels(const S* w, int64_t ld, bool trans, int64_t K, int64_t N, int64_t width, std::vector<S>& data) {
  const int64_t panels = (N + width - 1) / width;
  data.assign(size_t(panels * K * width), S(0));
  for (int64_t p = 0; p < panels; ++p) {
    const int64_t n0 = p * width, nb = std::min(width, N - n0);
    S* dst = data.data() + p * K * width;
    if (trans) {
      for (int64_t j = 0; j < nb; ++j) {
        const S* src = w + (n0 + j) * ld;
        for (int64_t k = 0; k < K; ++k) dst[k * width + j] = src[k];
      }
    } else {
      for (int64_t k = 0; k < K; ++k) std::memcpy(dst + k * width, w + k * ld + n0, sizeof(S) * nb);
    }
  }
  return panels;
}

template <typename S> struct PanelMatvec {
  static constexpr int64_t kPanel = std::is_same_v<S, float> ? 64 : 32;
  int64_t K = 0, N = 0, panels = 0;
  std::vector<S> data;  // panels x K x kPanel
  bool alternate = true;  // flip the panel order after every product
  // the next product reads the panels P-1..0 (mutable: one thread makes the products)
  mutable bool last_first = false;

  PanelMatvec() = default;
  // op(W)[k, n] = trans ? W[n * ld + k] : W[k * ld + n]
  PanelMatvec(const S* w, int64_t ld, bool trans, int64_t K_, int64_t N_)
      : K(K_), N(N_), alternate(std::getenv("RNNKIT_NO_ALTERNATE") == nullptr) {
    panels = pack_panels(w, ld, trans, K, N, kPanel, data);
  }

  void apply(const S* __restrict a, S beta, S* __restrict y) const {
    const bool reversed = last_first;
    last_first = alternate && !last_first;
    for (int64_t i = 0; i < panels; ++i) {
      const int64_t p = reversed ? panels - 1 - i : i;
      const int64_t n0 = p * kPanel, nb = std::min(kPanel, N - n0);
      const S* __restrict panel = data.data() + p * K * kPanel;
      if constexpr (std::is_same_v<S, float>) {
#if defined(__AVX2__) && defined(__FMA__)
        if (nb == kPanel) { apply_avx(a, panel, beta, y + n0); continue; }
#endif
      }
      S acc[kPanel];
      for (int64_t j = 0; j < kPanel; ++j) acc[j] = (beta != S(0) && j < nb) ? beta * y[n0 + j] : S(0);
      for (int64_t k = 0; k < K; ++k) {
        const S ak = a[k];
        const S* __restrict row = panel + k * kPanel;
        for (int64_t j = 0; j < kPanel; ++j) acc[j] += ak * row[j];
      }
      for (int64_t j = 0; j < nb; ++j) y[n0 + j] = acc[j];
    }
  }

#if defined(__AVX2__) && defined(__FMA__)
  // One full float32 panel: 64 columns in 8 registers.
  void apply_avx(const float* __restrict a, const float* __restrict panel, float beta, float* __restrict y) const {
    __m256 acc[8];
    const __m256 vb = _mm256_set1_ps(beta);
    for (int r = 0; r < 8; ++r)
      acc[r] = beta != 0.0f ? _mm256_mul_ps(vb, _mm256_loadu_ps(y + 8 * r)) : _mm256_setzero_ps();
    for (int64_t k = 0; k < K; ++k) {
      const __m256 ak = _mm256_set1_ps(a[k]);
      const float* row = panel + k * 64;
      for (int r = 0; r < 8; ++r) acc[r] = _mm256_fmadd_ps(ak, _mm256_loadu_ps(row + 8 * r), acc[r]);
    }
    for (int r = 0; r < 8; ++r) _mm256_storeu_ps(y + 8 * r, acc[r]);
  }
#endif
};

inline bool matvec_enabled() { return std::getenv("RNNKIT_NO_MATVEC") == nullptr; }

}  // namespace
