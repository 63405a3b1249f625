// rnnkit small-batch recurrent product: C (M x N) = beta C + A (M x K) op(W), 2 <= M <= 64.
//
// Included by fused.cpp after matvec.h, before RightOperand. At a small batch the per-step
// recurrent product is a thin GEMM: M rows against a weight that, at H 512 (4 MB for an LSTM),
// lives in L3. op(W) is copied once per sequence into column panels of kPanel = 16 columns
// (K x 16 contiguous, the tail panel zero-padded), A is regrouped once per product (4 rows
// side by side, k-major), and a product runs
//
//   for each block of panels (about 200 KB: it stays in L2 while every row group uses it)
//     for each group of R <= 4 rows of A
//       for the block's panels, NP at a time:   acc (R x NP*16) = 0
//         for k < K:  acc[r, :] += A[r, k] * panel[k, :]    (broadcast A, stream the panel)
//       C = beta C + acc
//
// acc is R x 2*NP AVX registers, 8 of them (R 4 x NP 1, R 2 x NP 2, R 1 x NP 4; 6 at R 3):
// enough independent fused multiply-adds in flight on Zen 3; a panel row is loaded once into
// registers and serves the R rows. So a weight element comes from L3 once per step and from L2
// once per 4 rows. Each sum runs over k in order. float32 with AVX2 and FMA only: any other
// build or scalar type keeps the GEMM path. RNNKIT_NO_SMALLM set (read at every construction)
// falls back to the GEMM path, for A/B timing.
//
// Measured alone (M 16, N 2048, K 512, one thread, a shared 2-core Zen 3): 88-92 GFLOP/s with
// groups of 4 rows, 69-78 with groups of 6 (12 accumulators); the unpacked MKL sgemm that
// torch.mm calls: ~28 GFLOP/s at M 16.

#if defined(__AVX2__) && defined(__FMA__)
#define RNNKIT_SMALLM 1
#define RNNKIT_UNROLL _Pragma("GCC unroll 16")
#endif

namespace {

inline bool smallm_enabled() { return std::getenv("RNNKIT_NO_SMALLM") == nullptr; }

// Where the panels beat the packed GEMM they replace, by interleaved A/B of whole layers
// (benchmarks/kernels_smallm.py, results/kernels_smallm.md; one thread, shared 2-core Zen 3;
// time with panels / time with GEMM, median (quartiles; extremes) over every cell, train and
// infer, T 50, and the layer-norm LSTM's inference at T 200):
//   H 256-512, B 2-8:  0.58 (0.45-0.68; 0.12-1.30)   B 16-32: 0.83 (0.77-0.92; 0.41-1.06)
//   H 64,      B 2-4:  0.85 (0.75-0.90; 0.55-1.05)   B 8-32:  0.97 (0.90-1.01; 0.37-1.35)
//   H 256-512, B 64:   0.94 (0.92-0.97; 0.83-1.08)   (nothing measured between 32 and 64)
// so: every batch from 2 to 64 where the weight holds at least 64K elements (an LSTM from
// H 128, a GRU from H 148, an RNN from H 256), and batches 2-4 below that.
// The panels run on one thread; with more, the packed GEMM splits the product between them.
// With 2 threads (LSTM, lead's in-process A/B, 7 rounds, quiet machine), panels / nn against
// GEMM / nn: B16 H512 T50 training 1.65 vs 1.37, inference 2.35 vs 1.69; B64 H512 T50 training
// 1.43 vs 1.02, inference 1.88 vs 1.25; B4 H256 T50 training 1.00 vs 1.52, inference 1.00 vs
// 1.65. So with more than one thread only batches 2-4 take the panels.
inline bool smallm_pays(int64_t M, int64_t N, int64_t K) {
  if (M > 4 && at::get_num_threads() > 1) return false;
  return M >= 2 && M <= 64 && (M <= 4 || N * K >= (int64_t(1) << 16));
}

#ifdef RNNKIT_SMALLM
struct SmallBatchPanels {
  static constexpr int64_t kPanel = 16;  // 2 AVX registers of 8 float32
  static constexpr int64_t kBlockBytes = 200 << 10;  // panels of a block: under L2 (512 KB)
  int64_t K = 0, N = 0, panels = 0, block = 1;
  std::vector<float> data;  // panels x K x kPanel
  mutable std::vector<float> apack;  // A regrouped for one product (scratch)

  // The rows of the next group when n rows are left: 4 while at least 4 remain, then 3, 2 or 1.
  static int64_t rows_at(int64_t n) { return n >= 4 ? 4 : n; }

  SmallBatchPanels() = default;
  // op(W)[k, n] = trans ? W[n * ld + k] : W[k * ld + n]
  SmallBatchPanels(const float* w, int64_t ld, bool trans, int64_t K_, int64_t N_) : K(K_), N(N_) {
    block = std::max<int64_t>(4, kBlockBytes / int64_t(sizeof(float) * K * kPanel) / 4 * 4);
    panels = pack_panels(w, ld, trans, K, N, kPanel, data);
  }

  void apply(const float* A, int64_t lda, float beta, float* C, int64_t ldc, int64_t M) const {
    // A's rows regrouped k-major, R rows at a time: group g holds A[r0 + r, k] at [k * R + r]
    apack.resize(size_t(M * K));
    for (int64_t r0 = 0; r0 < M;) {
      const int64_t R = rows_at(M - r0);
      float* dst = apack.data() + r0 * K;
      for (int64_t k = 0; k < K; ++k)
        for (int64_t r = 0; r < R; ++r) dst[k * R + r] = A[(r0 + r) * lda + k];
      r0 += R;
    }
    for (int64_t p0 = 0; p0 < panels; p0 += block) {
      const int64_t p1 = std::min(panels, p0 + block);
      for (int64_t r0 = 0; r0 < M;) {
        const int64_t R = rows_at(M - r0);
        const float* a = apack.data() + r0 * K;
        float* c = C + r0 * ldc;
        switch (R) {
          case 4: panel_run<4, 1>(a, beta, c, ldc, p0, p1); break;
          case 3: panel_run<3, 1>(a, beta, c, ldc, p0, p1); break;
          case 2: panel_run<2, 2>(a, beta, c, ldc, p0, p1); break;
          default: panel_run<1, 4>(a, beta, c, ldc, p0, p1); break;
        }
        r0 += R;
      }
    }
  }

 private:
  // R rows against panels [p0, p1), NP panels per tile (the last tiles one panel at a time).
  template <int R, int NP>
  void panel_run(const float* A, float beta, float* C, int64_t ldc, int64_t p0, int64_t p1) const {
    int64_t p = p0;
    for (; p + NP <= p1; p += NP) tile_at<R, NP>(A, beta, C, ldc, p);
    for (; p < p1; ++p) tile_at<R, 1>(A, beta, C, ldc, p);
  }

  // A tile whose columns pass N (the padded tail panel) runs on a copy of C's columns.
  template <int R, int NP>
  void tile_at(const float* A, float beta, float* C, int64_t ldc, int64_t p) const {
    constexpr int64_t W = NP * kPanel;
    const int64_t n0 = p * kPanel, cols = std::min(W, N - n0);
    const float* panel = data.data() + p * K * kPanel;
    if (cols == W) { tile<R, NP>(A, panel, K, beta, C + n0, ldc); return; }
    alignas(32) float tmp[R * W] = {};
    for (int r = 0; r < R; ++r) std::memcpy(tmp + r * W, C + r * ldc + n0, sizeof(float) * cols);
    tile<R, NP>(A, panel, K, beta, tmp, W);
    for (int r = 0; r < R; ++r) std::memcpy(C + r * ldc + n0, tmp + r * W, sizeof(float) * cols);
  }

  // C[:R, :NP*kPanel] = beta C + A panels, A regrouped (A[r, k] at A[k * R + r]); the NP panels
  // lie K * kPanel apart. Every loop over r, v, q is unrolled by pragma: GCC 12 left unrolled
  // late keeps acc in memory (a store per accumulator per k), at half the speed.
  template <int R, int NP>
  static void tile(const float* __restrict A, const float* __restrict panel, int64_t K, float beta,
                   float* __restrict C, int64_t ldc) {
    constexpr int V = NP * 2;  // registers per row
    __m256 acc[R][V];
    RNNKIT_UNROLL for (int r = 0; r < R; ++r)
      RNNKIT_UNROLL for (int v = 0; v < V; ++v) acc[r][v] = _mm256_setzero_ps();
    const int64_t stride = K * kPanel;  // from one panel to the next
    for (int64_t k = 0; k < K; ++k) {
      __m256 w[V];
      RNNKIT_UNROLL for (int q = 0; q < NP; ++q)
        RNNKIT_UNROLL for (int v = 0; v < 2; ++v) {
          w[q * 2 + v] = _mm256_loadu_ps(panel + q * stride + k * kPanel + 8 * v);
          // keep it in a register (GCC would reload it for every row); one row uses it once
          if constexpr (R > 1) asm("" : "+x"(w[q * 2 + v]));
        }
      RNNKIT_UNROLL for (int r = 0; r < R; ++r) {
        const __m256 a = _mm256_broadcast_ss(A + k * R + r);
        RNNKIT_UNROLL for (int v = 0; v < V; ++v) acc[r][v] = _mm256_fmadd_ps(a, w[v], acc[r][v]);
      }
    }
    const __m256 vb = _mm256_set1_ps(beta);
    RNNKIT_UNROLL for (int r = 0; r < R; ++r)
      RNNKIT_UNROLL for (int v = 0; v < V; ++v) {
        float* c = C + r * ldc + 8 * v;
        _mm256_storeu_ps(c, beta != 0.0f ? _mm256_fmadd_ps(vb, _mm256_loadu_ps(c), acc[r][v])
                                         : acc[r][v]);
      }
  }
};
#endif

}  // namespace
