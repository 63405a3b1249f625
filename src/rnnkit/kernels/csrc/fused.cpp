// rnnkit fused recurrent kernels: forward and hand-derived backward through time.
//
// Every function takes time-major input projections x (T, B, G*H) that already hold
// W_ih x_t + b_ih (+ b_hh where the bias can be folded) (the layer-normalized LSTM takes W_ih x_t
// alone and does its normalization and biases itself), runs the per-step loop in C++ with
// one matrix multiply per step (two for the original-form GRU) and the gate math fused into
// one pass over each row, and saves the states and gate activations the backward needs.
//
// mask (T, B) bool, empty when every step is valid: at a padded step the state is carried and
// the output is zero. dmask (B, H) recurrent-dropout mask (already scaled by 1/(1-p)), empty
// when off: it multiplies h_{t-1} where h_{t-1} enters a recurrent matrix multiply.
//
// The backward of every function returns dx (T, B, G*H): the gradient of the pre-activations,
// which is also the gradient of every bias folded into x. lstm_step is one step for streams.
//
// Speed: the per-step matrix multiplies call BLAS directly (the sgemm_/dgemm_ that torch's CPU
// build exports; through ATen when they are absent), so a step pays no dispatcher or tensor
// bookkeeping; at batch 1 they are matrix-vector products over a weight copied once per call
// into panels (matvec.h: 0.62-0.89x the time of the GEMM path at B1 H64-512, every cell), at
// batch 2..64, where it pays, products over panels with register-blocked rows (smallm.h:
// 0.3-0.9x at H 256-512); float32 gate math uses a branch-free exp (Cephes polynomial, relative
// error ~1e-7) that the compiler vectorizes.

#include <torch/extension.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

using at::Tensor;

#include "matvec.h"  // the batch-1 recurrent product
#include "smallm.h"  // the small-batch recurrent product

extern "C" {
void sgemm_(const char*, const char*, const int*, const int*, const int*, const float*, const float*, const int*,
            const float*, const int*, const float*, float*, const int*) __attribute__((weak));
void dgemm_(const char*, const char*, const int*, const int*, const int*, const double*, const double*, const int*,
            const double*, const int*, const double*, double*, const int*) __attribute__((weak));
// MKL's packed GEMM (float32): the weight is reordered once per sequence, not once per step.
size_t cblas_sgemm_pack_get_size(int, int, int, int) __attribute__((weak));
void cblas_sgemm_pack(int, int, int, int, int, int, float, const float*, int, float*) __attribute__((weak));
void cblas_sgemm_compute(int, int, int, int, int, int, const float*, int, const float*, int, float, float*, int)
    __attribute__((weak));
}

namespace {

inline bool present(const Tensor& t) { return t.defined() && t.numel() > 0; }

// ---- math ----------------------------------------------------------------------------------
template <typename S> struct Math {
  static inline S sigmoid(S x) { return S(1) / (S(1) + std::exp(-x)); }
  static inline S tanh(S x) { return std::tanh(x); }
};

inline float fast_exp(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  const float n = std::floor(x * 1.44269504088896341f + 0.5f);
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  return e * std::bit_cast<float>(bits);
}

template <> struct Math<float> {
  static inline float sigmoid(float x) { return 1.0f / (1.0f + fast_exp(-x)); }
  static inline float tanh(float x) { return 1.0f - 2.0f / (1.0f + fast_exp(2.0f * x)); }
};

// ---- BLAS ----------------------------------------------------------------------------------
// Row-major C (M x N) = beta C + op(A) op(B), op = transpose when ta / tb.
template <typename S>
void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const S* A, int64_t lda, const S* B, int64_t ldb, S beta,
          S* C, int64_t ldc) {
  const int m = int(M), n = int(N), k = int(K), la = int(lda), lb = int(ldb), lc = int(ldc);
  const char ca = ta ? 'T' : 'N', cb = tb ? 'T' : 'N';
  const S one = 1;
  if constexpr (std::is_same_v<S, float>) {
    if (sgemm_) { sgemm_(&cb, &ca, &n, &m, &k, &one, B, &lb, A, &la, &beta, C, &lc); return; }
  } else {
    if (dgemm_) { dgemm_(&cb, &ca, &n, &m, &k, &one, B, &lb, A, &la, &beta, C, &lc); return; }
  }
  auto opts = at::TensorOptions().dtype(c10::CppTypeToScalarType<S>::value);
  Tensor a = ta ? at::from_blob(const_cast<S*>(A), {K, M}, {lda, 1}, opts).t() : at::from_blob(const_cast<S*>(A), {M, K}, {lda, 1}, opts);
  Tensor b = tb ? at::from_blob(const_cast<S*>(B), {N, K}, {ldb, 1}, opts).t() : at::from_blob(const_cast<S*>(B), {K, N}, {ldb, 1}, opts);
  Tensor c = at::from_blob(C, {M, N}, {ldc, 1}, opts);
  if (beta == S(0)) c.copy_(at::mm(a, b)); else c.addmm_(a, b, 1, beta);
}

// The right operand op(W) (K x N, row-major W) of many products C (M x N) = beta C + A op(W)
// made with the same W: at M = 1 (batch 1) copied once into matrix-vector panels (matvec.h),
// at small M (float32, AVX2) into the small-batch panels where they pay (smallm.h), otherwise
// packed once where MKL's packed GEMM is available (float32).
template <typename S> struct RightOperand {
  enum { kRowMajor = 101, kNoTrans = 111, kTrans = 112, kPacked = 151, kBMatrix = 162 };
  const S* w; int64_t ld; bool trans; int64_t M, N, K;
  Tensor packed;
  PanelMatvec<S> mv;
#ifdef RNNKIT_SMALLM
  SmallBatchPanels sm;
#endif
  // uses: how many products will be made (the steps); packing pays only when there are several.
  RightOperand(const S* w_, int64_t ld_, bool trans_, int64_t M_, int64_t N_, int64_t K_, int64_t uses)
      : w(w_), ld(ld_), trans(trans_), M(M_), N(N_), K(K_) {
    if (M == 1 && uses > 1 && matvec_enabled()) {
      mv = PanelMatvec<S>(w, ld, trans, K, N);
      return;
    }
#ifdef RNNKIT_SMALLM
    if constexpr (std::is_same_v<S, float>) {
      if (uses > 1 && smallm_pays(M, N, K) && smallm_enabled()) {
        sm = SmallBatchPanels(w, ld, trans, K, N);
        return;
      }
    }
#endif
    if constexpr (std::is_same_v<S, float>) {
      static const bool enabled = std::getenv("RNNKIT_NO_PACKED_GEMM") == nullptr;
      if (enabled && uses > 1 && cblas_sgemm_pack_get_size && cblas_sgemm_pack && cblas_sgemm_compute) {
        const size_t bytes = cblas_sgemm_pack_get_size(kBMatrix, int(M), int(N), int(K));
        packed = at::empty({int64_t(bytes / sizeof(float)) + 16}, at::kFloat);
        cblas_sgemm_pack(kRowMajor, kBMatrix, trans ? kTrans : kNoTrans, int(M), int(N), int(K), 1.0f, w, int(ld),
                         packed.data_ptr<float>());
      }
    }
  }
  // Which path mm takes (for tests): "matvec", "small_batch", "packed_gemm" or "gemm".
  const char* path() const {
    if (mv.K > 0) return "matvec";
#ifdef RNNKIT_SMALLM
    if (sm.K > 0) return "small_batch";
#endif
    return packed.defined() ? "packed_gemm" : "gemm";
  }
  void mm(const S* A, int64_t lda, S beta, S* C, int64_t ldc) const {
    if (mv.K > 0) { mv.apply(A, beta, C); return; }
#ifdef RNNKIT_SMALLM
    if constexpr (std::is_same_v<S, float>) {
      if (sm.K > 0) { sm.apply(A, lda, beta, C, ldc, M); return; }
    }
#endif
    if constexpr (std::is_same_v<S, float>) {
      if (packed.defined()) {
        cblas_sgemm_compute(kRowMajor, kNoTrans, kPacked, int(M), int(N), int(K), A, int(lda), packed.data_ptr<float>(),
                            int(std::max(N, K)), beta, C, int(ldc));
        return;
      }
    }
    gemm<S>(false, trans, M, N, K, A, lda, w, ld, beta, C, ldc);
  }
};

// h_{t-1} as it enters the recurrent matrix multiply: h (B*H) times the dropout mask, into buf.
template <typename S> inline const S* recurrent_input(const S* h, const S* dmask, S* buf, int64_t n) {
  if (!dmask) return h;
  for (int64_t k = 0; k < n; ++k) buf[k] = h[k] * dmask[k];
  return buf;
}

template <typename S> inline const S* ptr(const Tensor& t) { return present(t) ? t.data_ptr<S>() : nullptr; }

inline const bool* mask_ptr(const Tensor& t) { return present(t) ? t.data_ptr<bool>() : nullptr; }

// The inputs to dW = sum_t da_t^T h_in_{t-1}: h_0..h_{T-1}, times the dropout mask.
inline Tensor recurrent_inputs(const Tensor& hs, const Tensor& dmask, int64_t T) {
  Tensor h = hs.narrow(0, 0, T);
  return (present(dmask) ? h * dmask : h).reshape({-1, hs.size(2)});
}

// Sum of f(0) + ... + f(n-1) in 16 independent lanes: the compiler vectorizes this reduction
// (a plain loop is not vectorized without -ffast-math, which would reorder every other sum too).
template <typename S, typename F> inline S lane_sum(int64_t n, F&& f) {
  constexpr int L = 16;
  S acc[L] = {};
  int64_t j = 0;
  for (; j + L <= n; j += L)
    for (int k = 0; k < L; ++k) acc[k] += f(j + k);
  S s = 0;
  for (int k = 0; k < L; ++k) s += acc[k];
  for (; j < n; ++j) s += f(j);
  return s;
}

// Layer normalization statistics over n values (two passes): (mean, 1/sqrt(var + eps)).
template <typename S> inline void moments(const S* __restrict v, int64_t n, double eps, S& mean, S& rstd) {
  const S mu = lane_sum<S>(n, [&](int64_t j) { return v[j]; }) / S(n);
  const S var = lane_sum<S>(n, [&](int64_t j) { const S d = v[j] - mu; return d * d; }) / S(n);
  mean = mu;
  rstd = S(1) / std::sqrt(var + S(eps));
}

// Backward of yhat = (v - mean) * rstd: dv = rstd (dy - mean(dy) - yhat mean(dy yhat)).
template <typename S>
inline void layer_norm_back(const S* __restrict dy, const S* __restrict yhat, S rstd, int64_t n, S* __restrict dv) {
  const S ma = lane_sum<S>(n, [&](int64_t j) { return dy[j]; }) / S(n);
  const S mb = lane_sum<S>(n, [&](int64_t j) { return dy[j] * yhat[j]; }) / S(n);
  for (int64_t j = 0; j < n; ++j) dv[j] = rstd * (dy[j] - ma - yhat[j] * mb);
}

// acc[j] += a[j] * b[j] (b null: acc[j] += a[j]), accumulated in double over all rows.
template <typename S> inline void accumulate(double* __restrict acc, const S* __restrict a, const S* __restrict b,
                                             int64_t n) {
  if (b) { for (int64_t j = 0; j < n; ++j) acc[j] += double(a[j]) * double(b[j]); }
  else { for (int64_t j = 0; j < n; ++j) acc[j] += double(a[j]); }
}

inline Tensor from_double(const std::vector<double>& v, const at::TensorOptions& opts) {
  // copy=true: for float64 a plain .to() would alias v, which is freed when the caller returns
  return at::from_blob(const_cast<double*>(v.data()), {int64_t(v.size())}, at::kDouble).to(opts, false, true);
}

// ---- LSTM row kernels ----------------------------------------------------------------------
template <typename S>
inline void lstm_row(const S* __restrict a, const S* __restrict c_prev, S* __restrict gr, S* __restrict c_new,
                     S* __restrict h_new, int64_t H) {
  for (int64_t j = 0; j < H; ++j) {
    const S i = Math<S>::sigmoid(a[j]), f = Math<S>::sigmoid(a[H + j]);
    const S g = Math<S>::tanh(a[2 * H + j]), o = Math<S>::sigmoid(a[3 * H + j]);
    gr[j] = i; gr[H + j] = f; gr[2 * H + j] = g; gr[3 * H + j] = o;
    const S c = f * c_prev[j] + i * g;
    c_new[j] = c;
    h_new[j] = o * Math<S>::tanh(c);
  }
}

// ---- GRU (reset after) row kernels ----------------------------------------------------------
// Functions of their own with restrict-qualified rows, as lstm_row: written inline in the time
// loop, GCC 12 vectorized neither loop (-fopt-info-vec: "couldn't vectorize loop"), and the
// reset-after GRU ran its gate math scalar while the original form's loops were vectorized.
template <typename S>
inline void gru_row(const S* __restrict xr, const S* __restrict hr, const S* __restrict hpr, S* __restrict gr,
                    S* __restrict hnr, int64_t H) {
  for (int64_t j = 0; j < H; ++j) {
    const S r = Math<S>::sigmoid(xr[j] + hr[j]), z = Math<S>::sigmoid(xr[H + j] + hr[H + j]);
    const S n = Math<S>::tanh(xr[2 * H + j] + r * hr[2 * H + j]);
    gr[j] = r; gr[H + j] = z; gr[2 * H + j] = n; gr[3 * H + j] = hr[2 * H + j];
    hnr[j] = (1 - z) * n + z * hpr[j];
  }
}

// The forward alone (inference.h): no gate is kept.
template <typename S>
inline void gru_row_infer(const S* __restrict xr, const S* __restrict hr, const S* __restrict hpr, S* __restrict hnr,
                          int64_t H) {
  for (int64_t j = 0; j < H; ++j) {
    const S r = Math<S>::sigmoid(xr[j] + hr[j]), z = Math<S>::sigmoid(xr[H + j] + hr[H + j]);
    const S n = Math<S>::tanh(xr[2 * H + j] + r * hr[2 * H + j]);
    hnr[j] = (1 - z) * n + z * hpr[j];
  }
}

template <typename S>
inline void gru_row_backward(const S* __restrict gr, const S* __restrict hp, const S* __restrict go,
                             S* __restrict dhp, S* __restrict dxr, S* __restrict dhr, int64_t H) {
  for (int64_t j = 0; j < H; ++j) {
    const S r = gr[j], z = gr[H + j], n = gr[2 * H + j], hhn = gr[3 * H + j];
    const S dhn = dhp[j] + go[j];
    const S dan = dhn * (1 - z) * (1 - n * n);
    const S dar = dan * hhn * r * (1 - r);
    const S daz = dhn * (hp[j] - n) * z * (1 - z);
    dxr[j] = dar; dxr[H + j] = daz; dxr[2 * H + j] = dan;
    dhr[j] = dar; dhr[H + j] = daz; dhr[2 * H + j] = dan * r;
    dhp[j] = dhn * z;
  }
}

// The backward of lstm_row, a function of its own for the same reason as gru_row below: inline
// in the time loop GCC 12 did not vectorize it (-fopt-info-vec).
template <typename S>
inline void lstm_row_backward(const S* __restrict g4, const S* __restrict gor, const S* __restrict cn,
                              const S* __restrict cp, S* __restrict dhr, S* __restrict dcr, S* __restrict da,
                              int64_t H) {
  for (int64_t j = 0; j < H; ++j) {
    const S i = g4[j], f = g4[H + j], g = g4[2 * H + j], o = g4[3 * H + j];
    const S dhn = dhr[j] + gor[j];
    const S tc = Math<S>::tanh(cn[j]);
    da[3 * H + j] = dhn * tc * o * (1 - o);
    const S dcn = dcr[j] + dhn * o * (1 - tc * tc);
    da[j] = dcn * g * i * (1 - i);
    da[H + j] = dcn * cp[j] * f * (1 - f);
    da[2 * H + j] = dcn * i * (1 - g * g);
    dcr[j] = dcn * f;
    dhr[j] = 0;
  }
}

// After a row's step: its output is h_t at a valid step; at a padded step the output is zero and
// the state (h, and c when given) is carried from the previous step.
template <typename S>
inline void carry_if_padded(bool valid, S* out_row, S* h_new, const S* h_prev, S* c_new, const S* c_prev, int64_t H) {
  if (valid) { std::memcpy(out_row, h_new, sizeof(S) * H); return; }
  std::memset(out_row, 0, sizeof(S) * H);
  std::memcpy(h_new, h_prev, sizeof(S) * H);
  if (c_new) std::memcpy(c_new, c_prev, sizeof(S) * H);
}

// dh_{t-1} += dA_t W_hh for one step's rows dA (B x ld), times the dropout mask D where given.
template <typename S>
inline void recurrent_backward(const RightOperand<S>& Wb, const S* dA, int64_t ld, const S* D, S* DHIN, S* DH, int64_t B,
                               int64_t H) {
  if (D) {
    Wb.mm(dA, ld, S(0), DHIN, H);
    for (int64_t k = 0; k < B * H; ++k) DH[k] += DHIN[k] * D[k];
  } else {
    Wb.mm(dA, ld, S(1), DH, H);
  }
}

// The parameters of the layer-normalized LSTM (see lstm_ln_forward), as raw pointers.
template <typename S> struct LayerNormParams {
  const S *ih, *bias, *hh, *c_gain, *c_shift;  // gamma_ih (4H), b_ih + b_hh (4H), gamma_hh (4H), gamma_c, beta_c (H)
  double eps;
};

// What one row of the layer-normalized LSTM keeps for the backward pass.
template <typename S> struct LayerNormSaved {
  S *xstat, *rhat, *rstd, *chat, *cstd;  // (mean, rstd) of W_ih x (2), LN(W_hh h) (4H), its rstd, LN(c) (H), its rstd
};

// One row: xw = W_ih x_t (4H), r = W_hh h_in (4H, overwritten with the pre-activations a).
template <typename S>
inline void lstm_ln_row(const S* __restrict xw, S* __restrict r, const S* __restrict c_prev, const LayerNormParams<S>& p,
                        int64_t H, S* __restrict gr, S* __restrict c_new, S* __restrict h_new, const LayerNormSaved<S>& s) {
  const int64_t G = 4 * H;
  S mx, rx, mr, rr, mc, rc;
  moments(xw, G, p.eps, mx, rx);
  moments(r, G, p.eps, mr, rr);
  s.xstat[0] = mx; s.xstat[1] = rx; *s.rstd = rr;
  for (int64_t j = 0; j < G; ++j) {
    const S rh = (r[j] - mr) * rr;
    s.rhat[j] = rh;
    r[j] = p.ih[j] * ((xw[j] - mx) * rx) + p.bias[j] + p.hh[j] * rh;
  }
  for (int64_t j = 0; j < H; ++j) {
    const S i = Math<S>::sigmoid(r[j]), f = Math<S>::sigmoid(r[H + j]);
    const S g = Math<S>::tanh(r[2 * H + j]), o = Math<S>::sigmoid(r[3 * H + j]);
    gr[j] = i; gr[H + j] = f; gr[2 * H + j] = g; gr[3 * H + j] = o;
    c_new[j] = f * c_prev[j] + i * g;
  }
  moments(c_new, H, p.eps, mc, rc);
  *s.cstd = rc;
  for (int64_t j = 0; j < H; ++j) {
    const S ch = (c_new[j] - mc) * rc;
    s.chat[j] = ch;
    h_new[j] = gr[3 * H + j] * Math<S>::tanh(p.c_gain[j] * ch + p.c_shift[j]);
  }
}

// b_ih + b_hh (either may be absent) as a (4H) vector of zeros where both are.
template <typename S> std::vector<S> summed_bias(const Tensor& b_ih, const Tensor& b_hh, int64_t G) {
  std::vector<S> b(G, S(0));
  for (const Tensor* t : {&b_ih, &b_hh})
    if (present(*t)) { const S* v = t->data_ptr<S>(); for (int64_t j = 0; j < G; ++j) b[j] += v[j]; }
  return b;
}

// The initial state of a forward pass: h0 (B,H) copied into states[0] of the (T+1,B,H) stack,
// or zeros where h0 is empty (the caller's "no initial state": no zeros tensor built per call).
inline void initial_state(const Tensor& states, const Tensor& h0) {
  if (present(h0)) states[0].copy_(h0); else states[0].zero_();
}

// The running gradient of a state (B,H), starting from grad (a copy: the loop writes into it),
// or zeros where grad is empty (autograd hands in none when the loss does not use the final
// state and the Function does not materialize gradients).
inline Tensor state_gradient(const Tensor& grad, int64_t B, int64_t H,
                             const at::TensorOptions& opts) {
  return present(grad) ? grad.clone() : at::zeros({B, H}, opts);
}

}  // namespace

// ============================================================================ LSTM
// Gates i, f, g, o: a_t = x_t + W_hh h_{t-1}, c_t = f c_{t-1} + i g, h_t = o tanh(c_t).
// Returns out (T,B,H), hs (T+1,B,H), cs (T+1,B,H), gates (T,B,4H).
std::vector<Tensor> lstm_forward(const Tensor& x, const Tensor& h0, const Tensor& c0, const Tensor& w,
                                 const Tensor& mask, const Tensor& dmask) {
  const int64_t T = x.size(0), B = x.size(1), H = w.size(1), G = 4 * H;
  auto opts = x.options();
  Tensor hs = at::empty({T + 1, B, H}, opts), cs = at::empty({T + 1, B, H}, opts);
  Tensor gates = at::empty({T, B, G}, opts), out = at::empty({T, B, H}, opts);
  Tensor pre = at::empty({B, G}, opts), hbuf = at::empty({B, H}, opts);
  initial_state(hs, h0);
  initial_state(cs, c0);
  const bool* mp = mask_ptr(mask);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lstm_forward", [&] {
    using S = scalar_t;
    const S *X = x.data_ptr<S>(), *W = w.data_ptr<S>(), *D = ptr<S>(dmask);
    S *HS = hs.data_ptr<S>(), *CS = cs.data_ptr<S>(), *GT = gates.data_ptr<S>(), *O = out.data_ptr<S>();
    S *P = pre.data_ptr<S>(), *HB = hbuf.data_ptr<S>();
    const RightOperand<S> Wt(W, H, true, B, G, H, T);
    for (int64_t t = 0; t < T; ++t) {
      const S* hp = HS + t * B * H; const S* cp = CS + t * B * H;
      S* hn = HS + (t + 1) * B * H; S* cn = CS + (t + 1) * B * H;
      std::memcpy(P, X + t * B * G, sizeof(S) * B * G);
      Wt.mm(recurrent_input(hp, D, HB, B * H), H, S(1), P, G);
      for (int64_t b = 0; b < B; ++b) {
        S* h_new = hn + b * H; S* c_new = cn + b * H; S* o_row = O + (t * B + b) * H;
        lstm_row<S>(P + b * G, cp + b * H, GT + (t * B + b) * G, c_new, h_new, H);
        carry_if_padded(mp ? mp[t * B + b] : true, o_row, h_new, hp + b * H, c_new, cp + b * H, H);
      }
    }
  });
  return {out, hs, cs, gates, hs[T].clone(), cs[T].clone()};
}

// Returns dx (T,B,4H), dh0, dc0, dW_hh.
std::vector<Tensor> lstm_backward(const Tensor& grad_out, const Tensor& grad_h, const Tensor& grad_c,
                                  const Tensor& hs, const Tensor& cs, const Tensor& gates, const Tensor& w,
                                  const Tensor& mask, const Tensor& dmask) {
  const int64_t T = gates.size(0), B = gates.size(1), H = hs.size(2), G = 4 * H;
  auto opts = gates.options();
  Tensor dh = state_gradient(grad_h, B, H, opts), dc = state_gradient(grad_c, B, H, opts);
  Tensor dx = at::empty({T, B, G}, opts), dhin = at::empty({B, H}, opts);
  const bool* mp = mask_ptr(mask);
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "lstm_backward", [&] {
    using S = scalar_t;
    const S *GO = grad_out.data_ptr<S>(), *GT = gates.data_ptr<S>(), *CS = cs.data_ptr<S>(), *W = w.data_ptr<S>();
    const S* D = ptr<S>(dmask);
    S *DX = dx.data_ptr<S>(), *DH = dh.data_ptr<S>(), *DC = dc.data_ptr<S>(), *DHIN = dhin.data_ptr<S>();
    const RightOperand<S> Wb(W, H, false, B, H, G, T);
    for (int64_t t = T - 1; t >= 0; --t) {
      for (int64_t b = 0; b < B; ++b) {
        const int64_t row = t * B + b;
        S* __restrict da = DX + row * G;
        if (mp && !mp[row]) { std::memset(da, 0, sizeof(S) * G); continue; }  // dh, dc carried unchanged
        lstm_row_backward(GT + row * G, GO + row * H, CS + (row + B) * H, CS + row * H, DH + b * H, DC + b * H, da,
                          H);
      }
      recurrent_backward(Wb, DX + t * B * G, G, D, DHIN, DH, B, H);
    }
  });
  Tensor dw = at::mm(dx.reshape({T * B, G}).t(), recurrent_inputs(hs, dmask, T));
  return {dx, dh, dc, dw};
}

// ============================================================================ LSTM, layer norm
// Ba, Kiros and Hinton 2016, eq. (20)-(22), all of it in this one call per layer-direction:
//   a_t = gamma_ih * LN(W_ih x_t) + b_ih + b_hh + gamma_hh * LN(W_hh h_{t-1})
//   c_t = f c_{t-1} + i g,   h_t = o * tanh(gamma_c * LN(c_t) + beta_c)
// xw (T,B,4H) is W_ih x_t without bias (one GEMM over all steps, done by the caller).
// Returns out, hs, cs, gates (T,B,4H), xstat (T,B,2) mean and rstd of each xw row,
// rhat (T,B,4H), rstd (T,B), chat (T,B,H), cstd (T,B).
std::vector<Tensor> lstm_ln_forward(const Tensor& xw, const Tensor& h0, const Tensor& c0, const Tensor& w,
                                    const Tensor& ln_ih, const Tensor& b_ih, const Tensor& b_hh, const Tensor& ln_hh,
                                    const Tensor& lnc_g, const Tensor& lnc_b, const Tensor& mask, const Tensor& dmask,
                                    double eps) {
  const int64_t T = xw.size(0), B = xw.size(1), H = w.size(1), G = 4 * H;
  auto opts = xw.options();
  Tensor hs = at::empty({T + 1, B, H}, opts), cs = at::empty({T + 1, B, H}, opts);
  Tensor gates = at::empty({T, B, G}, opts), out = at::empty({T, B, H}, opts);
  Tensor xstat = at::empty({T, B, 2}, opts), rhat = at::empty({T, B, G}, opts), rstd = at::empty({T, B}, opts);
  Tensor chat = at::empty({T, B, H}, opts), cstd = at::empty({T, B}, opts);
  Tensor pre = at::empty({B, G}, opts), hbuf = at::empty({B, H}, opts);
  initial_state(hs, h0);
  initial_state(cs, c0);
  const bool* mp = mask_ptr(mask);
  AT_DISPATCH_FLOATING_TYPES(xw.scalar_type(), "lstm_ln_forward", [&] {
    using S = scalar_t;
    const S *X = xw.data_ptr<S>(), *W = w.data_ptr<S>(), *D = ptr<S>(dmask);
    S *HS = hs.data_ptr<S>(), *CS = cs.data_ptr<S>(), *GT = gates.data_ptr<S>(), *O = out.data_ptr<S>();
    S *P = pre.data_ptr<S>(), *HB = hbuf.data_ptr<S>();
    const std::vector<S> bias = summed_bias<S>(b_ih, b_hh, G);
    const LayerNormParams<S> p{ln_ih.data_ptr<S>(), bias.data(), ln_hh.data_ptr<S>(), lnc_g.data_ptr<S>(),
                               lnc_b.data_ptr<S>(), eps};
    S *XS = xstat.data_ptr<S>(), *RH = rhat.data_ptr<S>(), *RS = rstd.data_ptr<S>();
    S *CH = chat.data_ptr<S>(), *CSD = cstd.data_ptr<S>();
    const RightOperand<S> Wt(W, H, true, B, G, H, T);
    for (int64_t t = 0; t < T; ++t) {
      const S* hp = HS + t * B * H; const S* cp = CS + t * B * H;
      S* hn = HS + (t + 1) * B * H; S* cn = CS + (t + 1) * B * H;
      Wt.mm(recurrent_input(hp, D, HB, B * H), H, S(0), P, G);  // P = W_hh h_in, normalized per row below
      for (int64_t b = 0; b < B; ++b) {
        const int64_t row = t * B + b;
        S* h_new = hn + b * H; S* c_new = cn + b * H;
        const LayerNormSaved<S> s{XS + 2 * row, RH + row * G, RS + row, CH + row * H, CSD + row};
        lstm_ln_row<S>(X + row * G, P + b * G, cp + b * H, p, H, GT + row * G, c_new, h_new, s);
        carry_if_padded(mp ? mp[row] : true, O + row * H, h_new, hp + b * H, c_new, cp + b * H, H);
      }
    }
  });
  return {out, hs, cs, gates, xstat, rhat, rstd, chat, cstd, hs[T].clone(), cs[T].clone()};
}

// Returns d xw (T,B,4H), dh0, dc0, dW_hh, d gamma_ih, d b_ih (= d b_hh), d gamma_hh, d gamma_c, d beta_c.
std::vector<Tensor> lstm_ln_backward(const Tensor& grad_out, const Tensor& grad_h, const Tensor& grad_c,
                                     const Tensor& xw, const Tensor& xstat, const Tensor& hs, const Tensor& cs,
                                     const Tensor& gates, const Tensor& rhat, const Tensor& rstd, const Tensor& chat,
                                     const Tensor& cstd, const Tensor& w, const Tensor& ln_ih, const Tensor& ln_hh,
                                     const Tensor& lnc_g, const Tensor& lnc_b, const Tensor& mask,
                                     const Tensor& dmask) {
  const int64_t T = gates.size(0), B = gates.size(1), H = hs.size(2), G = 4 * H;
  auto opts = gates.options();
  Tensor dh = state_gradient(grad_h, B, H, opts), dc = state_gradient(grad_c, B, H, opts);
  Tensor dxw = at::empty({T, B, G}, opts), dr = at::empty({T, B, G}, opts), dhin = at::empty({B, H}, opts);
  std::vector<double> acc_ih(G, 0.0), acc_b(G, 0.0), acc_hh(G, 0.0), acc_cg(H, 0.0), acc_cb(H, 0.0);
  const bool* mp = mask_ptr(mask);
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "lstm_ln_backward", [&] {
    using S = scalar_t;
    const S *GO = grad_out.data_ptr<S>(), *GT = gates.data_ptr<S>(), *CS = cs.data_ptr<S>(), *W = w.data_ptr<S>();
    const S *X = xw.data_ptr<S>(), *XS = xstat.data_ptr<S>(), *D = ptr<S>(dmask);
    const S *IG = ln_ih.data_ptr<S>(), *LG = ln_hh.data_ptr<S>(), *CG = lnc_g.data_ptr<S>(), *CB = lnc_b.data_ptr<S>();
    const S *RH = rhat.data_ptr<S>(), *RS = rstd.data_ptr<S>(), *CH = chat.data_ptr<S>(), *CSD = cstd.data_ptr<S>();
    S *DXW = dxw.data_ptr<S>(), *DR = dr.data_ptr<S>(), *DH = dh.data_ptr<S>(), *DC = dc.data_ptr<S>();
    S* DHIN = dhin.data_ptr<S>();
    std::vector<S> da_buf(G), scratch(G), xhat(G), dy(H), dc_ln(H);
    S *da = da_buf.data(), *sc = scratch.data(), *xh = xhat.data();
    const RightOperand<S> Wb(W, H, false, B, H, G, T);
    for (int64_t t = T - 1; t >= 0; --t) {
      for (int64_t b = 0; b < B; ++b) {
        const int64_t row = t * B + b;
        if (mp && !mp[row]) {  // dh and dc are carried to the previous step unchanged
          std::memset(DXW + row * G, 0, sizeof(S) * G);
          std::memset(DR + row * G, 0, sizeof(S) * G);
          continue;
        }
        const S* g4 = GT + row * G; const S* gor = GO + row * H; const S* cp = CS + row * H;
        const S* ch = CH + row * H; const S* rh = RH + row * G; const S* xr = X + row * G;
        S* dhr = DH + b * H; S* dcr = DC + b * H;
        // through h = o * tanh(y), y = gamma_c * LN(c) + beta_c
        for (int64_t j = 0; j < H; ++j) {
          const S dhn = dhr[j] + gor[j];
          const S ty = Math<S>::tanh(CG[j] * ch[j] + CB[j]);
          const S o = g4[3 * H + j];
          da[3 * H + j] = dhn * ty * o * (1 - o);
          dy[j] = dhn * o * (1 - ty * ty);
          sc[j] = dy[j] * CG[j];
          dhr[j] = 0;
        }
        accumulate<S>(acc_cg.data(), dy.data(), ch, H);
        accumulate<S>(acc_cb.data(), dy.data(), nullptr, H);
        layer_norm_back(sc, ch, CSD[row], H, dc_ln.data());
        for (int64_t j = 0; j < H; ++j) {
          const S i = g4[j], f = g4[H + j], g = g4[2 * H + j];
          const S dcn = dcr[j] + dc_ln[j];
          da[j] = dcn * g * i * (1 - i);
          da[H + j] = dcn * cp[j] * f * (1 - f);
          da[2 * H + j] = dcn * i * (1 - g * g);
          dcr[j] = dcn * f;
        }
        // da is the gradient of the pre-activations: of b_ih and b_hh, and through the two LNs
        accumulate<S>(acc_b.data(), da, nullptr, G);
        accumulate<S>(acc_hh.data(), da, rh, G);
        for (int64_t j = 0; j < G; ++j) sc[j] = da[j] * LG[j];
        layer_norm_back(sc, rh, RS[row], G, DR + row * G);
        const S mx = XS[2 * row], rx = XS[2 * row + 1];
        for (int64_t j = 0; j < G; ++j) { xh[j] = (xr[j] - mx) * rx; sc[j] = da[j] * IG[j]; }
        accumulate<S>(acc_ih.data(), da, xh, G);
        layer_norm_back(sc, xh, rx, G, DXW + row * G);
      }
      recurrent_backward(Wb, DR + t * B * G, G, D, DHIN, DH, B, H);
    }
  });
  Tensor dw = at::mm(dr.reshape({T * B, G}).t(), recurrent_inputs(hs, dmask, T));
  return {dxw, dh, dc, dw, from_double(acc_ih, opts), from_double(acc_b, opts), from_double(acc_hh, opts),
          from_double(acc_cg, opts), from_double(acc_cb, opts)};
}

// ============================================================================ LSTM, one step
// Inference for streams: (h, c) -> (h', c') from the raw input x_t (B,I) in one call, stock or
// (ln_ih given) layer-normalized; the same row math as the sequence kernels.
std::vector<Tensor> lstm_step(const Tensor& x, const Tensor& h, const Tensor& c, const Tensor& w_ih, const Tensor& w_hh,
                              const Tensor& b_ih, const Tensor& b_hh, const Tensor& ln_ih, const Tensor& ln_hh,
                              const Tensor& lnc_g, const Tensor& lnc_b, double eps) {
  const int64_t B = x.size(0), I = x.size(1), H = c.size(1), G = 4 * H;
  const bool ln = present(ln_ih);
  auto opts = x.options();
  Tensor h_new = at::empty({B, H}, opts), c_new = at::empty({B, H}, opts);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lstm_step", [&] {
    using S = scalar_t;
    const std::vector<S> bias = summed_bias<S>(b_ih, b_hh, G);
    std::vector<S> pre(B * G), xw(ln ? B * G : 0), gr(G), saved(ln ? G + H + 4 : 0);
    const S *X = x.data_ptr<S>(), *Hp = h.data_ptr<S>(), *Cp = c.data_ptr<S>();
    S *Hn = h_new.data_ptr<S>(), *Cn = c_new.data_ptr<S>(), *P = pre.data();
    if (ln) {
      gemm<S>(false, true, B, G, I, X, I, w_ih.data_ptr<S>(), I, S(0), xw.data(), G);
      gemm<S>(false, true, B, G, H, Hp, H, w_hh.data_ptr<S>(), H, S(0), P, G);
      const LayerNormParams<S> p{ln_ih.data_ptr<S>(), bias.data(), ln_hh.data_ptr<S>(), lnc_g.data_ptr<S>(),
                                 lnc_b.data_ptr<S>(), eps};
      S* sv = saved.data();  // the per-row values the backward would need: scratch here
      const LayerNormSaved<S> s{sv, sv + 4, sv + 2, sv + 4 + G, sv + 3};
      for (int64_t b = 0; b < B; ++b)
        lstm_ln_row<S>(xw.data() + b * G, P + b * G, Cp + b * H, p, H, gr.data(), Cn + b * H, Hn + b * H, s);
    } else {
      for (int64_t b = 0; b < B; ++b) std::memcpy(P + b * G, bias.data(), sizeof(S) * G);
      gemm<S>(false, true, B, G, I, X, I, w_ih.data_ptr<S>(), I, S(1), P, G);
      gemm<S>(false, true, B, G, H, Hp, H, w_hh.data_ptr<S>(), H, S(1), P, G);
      for (int64_t b = 0; b < B; ++b) lstm_row<S>(P + b * G, Cp + b * H, gr.data(), Cn + b * H, Hn + b * H, H);
    }
  });
  return {h_new, c_new};
}

// ============================================================================ GRU, reset after
// r = s(x_r + hh_r), z = s(x_z + hh_z), n = tanh(x_n + r * hh_n), h = (1 - z) n + z h_{t-1},
// with hh = W_hh h_{t-1} + b_hh. Returns out, hs, gates (T,B,4H) holding r, z, n, hh_n.
std::vector<Tensor> gru_forward(const Tensor& x, const Tensor& h0, const Tensor& w, const Tensor& b_hh,
                                const Tensor& mask, const Tensor& dmask) {
  const int64_t T = x.size(0), B = x.size(1), H = w.size(1), G = 3 * H;
  auto opts = x.options();
  Tensor hs = at::empty({T + 1, B, H}, opts), out = at::empty({T, B, H}, opts);
  Tensor gates = at::empty({T, B, 4 * H}, opts), hh = at::empty({B, G}, opts), hbuf = at::empty({B, H}, opts);
  initial_state(hs, h0);
  const bool* mp = mask_ptr(mask);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "gru_forward", [&] {
    using S = scalar_t;
    const S *X = x.data_ptr<S>(), *W = w.data_ptr<S>(), *D = ptr<S>(dmask), *BH = ptr<S>(b_hh);
    S *HS = hs.data_ptr<S>(), *GT = gates.data_ptr<S>(), *O = out.data_ptr<S>(), *HH = hh.data_ptr<S>();
    S* HB = hbuf.data_ptr<S>();
    const RightOperand<S> Wt(W, H, true, B, G, H, T);
    for (int64_t t = 0; t < T; ++t) {
      const S* hp = HS + t * B * H; S* hn = HS + (t + 1) * B * H;
      for (int64_t b = 0; b < B; ++b) {
        if (BH) std::memcpy(HH + b * G, BH, sizeof(S) * G); else std::memset(HH + b * G, 0, sizeof(S) * G);
      }
      Wt.mm(recurrent_input(hp, D, HB, B * H), H, S(1), HH, G);
      for (int64_t b = 0; b < B; ++b) {
        const bool m = mp ? mp[t * B + b] : true;
        const int64_t row = t * B + b;
        const S* hpr = hp + b * H;
        S *hnr = hn + b * H, *orow = O + row * H;
        gru_row(X + row * G, HH + b * G, hpr, GT + row * 4 * H, hnr, H);
        if (m) {
          std::memcpy(orow, hnr, sizeof(S) * H);
        } else {
          std::memset(orow, 0, sizeof(S) * H);
          std::memcpy(hnr, hpr, sizeof(S) * H);
        }
      }
    }
  });
  return {out, hs, gates, hs[T].clone()};
}

// Returns dx (T,B,3H), dh0, dW_hh, db_hh.
std::vector<Tensor> gru_backward(const Tensor& grad_out, const Tensor& grad_h, const Tensor& hs,
                                 const Tensor& gates, const Tensor& w, const Tensor& mask, const Tensor& dmask) {
  const int64_t T = gates.size(0), B = gates.size(1), H = hs.size(2), G = 3 * H;
  auto opts = gates.options();
  Tensor dh = state_gradient(grad_h, B, H, opts), dhin = at::empty({B, H}, opts);
  Tensor dx = at::empty({T, B, G}, opts), dhh = at::empty({T, B, G}, opts);
  const bool* mp = mask_ptr(mask);
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "gru_backward", [&] {
    using S = scalar_t;
    const S *GO = grad_out.data_ptr<S>(), *GT = gates.data_ptr<S>(), *HS = hs.data_ptr<S>(), *W = w.data_ptr<S>();
    const S* D = ptr<S>(dmask);
    S *DX = dx.data_ptr<S>(), *DHH = dhh.data_ptr<S>(), *DH = dh.data_ptr<S>(), *DHIN = dhin.data_ptr<S>();
    const RightOperand<S> Wb(W, H, false, B, H, G, T);
    for (int64_t t = T - 1; t >= 0; --t) {
      for (int64_t b = 0; b < B; ++b) {
        const bool m = mp ? mp[t * B + b] : true;
        const int64_t row = t * B + b;
        S* __restrict dxr = DX + row * G; S* __restrict dhr = DHH + row * G;
        if (!m) {
          std::memset(dxr, 0, sizeof(S) * G);
          std::memset(dhr, 0, sizeof(S) * G);
          continue;
        }
        gru_row_backward(GT + row * 4 * H, HS + row * H, GO + row * H, DH + b * H, dxr, dhr, H);
      }
      recurrent_backward(Wb, DHH + t * B * G, G, D, DHIN, DH, B, H);
    }
  });
  Tensor dw = at::mm(dhh.reshape({T * B, G}).t(), recurrent_inputs(hs, dmask, T));
  return {dx, dh, dw, dhh.sum({0, 1})};
}

// ============================================================================ GRU, reset before
// r, z = s(x_rz + W_rz h_{t-1}), n = tanh(x_n + W_n (r * h_{t-1})), h = (1 - z) n + z h_{t-1};
// b_hh is folded into x. Returns out, hs, gates (T,B,3H) holding r, z, n, and rh (T,B,H).
std::vector<Tensor> gru_nr_forward(const Tensor& x, const Tensor& h0, const Tensor& w, const Tensor& mask,
                                   const Tensor& dmask) {
  const int64_t T = x.size(0), B = x.size(1), H = w.size(1), G = 3 * H;
  auto opts = x.options();
  Tensor hs = at::empty({T + 1, B, H}, opts), out = at::empty({T, B, H}, opts);
  Tensor gates = at::empty({T, B, G}, opts), rh = at::empty({T, B, H}, opts);
  Tensor pre = at::empty({B, G}, opts), hbuf = at::empty({B, H}, opts);
  initial_state(hs, h0);
  const bool* mp = mask_ptr(mask);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "gru_nr_forward", [&] {
    using S = scalar_t;
    const S *X = x.data_ptr<S>(), *W = w.data_ptr<S>(), *D = ptr<S>(dmask);
    S *HS = hs.data_ptr<S>(), *GT = gates.data_ptr<S>(), *O = out.data_ptr<S>(), *RH = rh.data_ptr<S>();
    S *P = pre.data_ptr<S>(), *HB = hbuf.data_ptr<S>();
    const RightOperand<S> Wrz(W, H, true, B, 2 * H, H, T), Wn(W + 2 * H * H, H, true, B, H, H, T);
    for (int64_t t = 0; t < T; ++t) {
      const S* hp = HS + t * B * H; S* hn = HS + (t + 1) * B * H;
      std::memcpy(P, X + t * B * G, sizeof(S) * B * G);
      const S* hin = recurrent_input(hp, D, HB, B * H);
      Wrz.mm(hin, H, S(1), P, G);  // P[:, :2H] += h_in W_rz^T
      S* rht = RH + t * B * H;
      for (int64_t b = 0; b < B; ++b) {
        const S* __restrict p = P + b * G; S* __restrict gr = GT + (t * B + b) * G;
        const S* __restrict hr = hin + b * H; S* __restrict rr = rht + b * H;
        for (int64_t j = 0; j < H; ++j) {
          const S r = Math<S>::sigmoid(p[j]), z = Math<S>::sigmoid(p[H + j]);
          gr[j] = r; gr[H + j] = z;
          rr[j] = r * hr[j];
        }
      }
      Wn.mm(rht, H, S(1), P + 2 * H, G);  // P[:, 2H:] += rh W_n^T
      for (int64_t b = 0; b < B; ++b) {
        const bool m = mp ? mp[t * B + b] : true;
        const int64_t row = t * B + b;
        const S* __restrict p = P + b * G; S* __restrict gr = GT + row * G;
        const S* __restrict hpr = hp + b * H; S* __restrict hnr = hn + b * H; S* __restrict orow = O + row * H;
        for (int64_t j = 0; j < H; ++j) {
          const S n = Math<S>::tanh(p[2 * H + j]), z = gr[H + j];
          gr[2 * H + j] = n;
          hnr[j] = (1 - z) * n + z * hpr[j];
        }
        if (m) {
          std::memcpy(orow, hnr, sizeof(S) * H);
        } else {
          std::memset(orow, 0, sizeof(S) * H);
          std::memcpy(hnr, hpr, sizeof(S) * H);
        }
      }
    }
  });
  return {out, hs, gates, rh, hs[T].clone()};
}

// Returns dx (T,B,3H), dh0, dW_hh.
std::vector<Tensor> gru_nr_backward(const Tensor& grad_out, const Tensor& grad_h, const Tensor& hs,
                                    const Tensor& gates, const Tensor& rh, const Tensor& w, const Tensor& mask,
                                    const Tensor& dmask) {
  const int64_t T = gates.size(0), B = gates.size(1), H = hs.size(2), G = 3 * H;
  auto opts = gates.options();
  Tensor dh = state_gradient(grad_h, B, H, opts), dx = at::empty({T, B, G}, opts);
  Tensor drh = at::empty({B, H}, opts), dhin = at::empty({B, H}, opts), hbuf = at::empty({B, H}, opts);
  const bool* mp = mask_ptr(mask);
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "gru_nr_backward", [&] {
    using S = scalar_t;
    const S *GO = grad_out.data_ptr<S>(), *GT = gates.data_ptr<S>(), *HS = hs.data_ptr<S>(), *W = w.data_ptr<S>();
    const S* D = ptr<S>(dmask);
    S *DX = dx.data_ptr<S>(), *DH = dh.data_ptr<S>(), *DRH = drh.data_ptr<S>(), *DHIN = dhin.data_ptr<S>();
    S* HB = hbuf.data_ptr<S>();
    const RightOperand<S> Wrz(W, H, false, B, H, 2 * H, T), Wn(W + 2 * H * H, H, false, B, H, H, T);
    for (int64_t t = T - 1; t >= 0; --t) {
      // pass 1: through h = (1 - z) n + z h_prev; dh keeps dh_prev's direct part
      for (int64_t b = 0; b < B; ++b) {
        const bool m = mp ? mp[t * B + b] : true;
        const int64_t row = t * B + b;
        S* __restrict d = DX + row * G;
        if (!m) { std::memset(d, 0, sizeof(S) * G); continue; }
        const S* __restrict gr = GT + row * G; const S* __restrict hp = HS + row * H;
        const S* __restrict go = GO + row * H; S* __restrict dhp = DH + b * H;
        for (int64_t j = 0; j < H; ++j) {
          const S z = gr[H + j], n = gr[2 * H + j];
          const S dhn = dhp[j] + go[j];
          d[2 * H + j] = dhn * (1 - z) * (1 - n * n);
          d[H + j] = dhn * (hp[j] - n) * z * (1 - z);
          dhp[j] = dhn * z;
        }
      }
      S* dxt = DX + t * B * G;
      Wn.mm(dxt + 2 * H, G, S(0), DRH, H);  // d(r * h_in)
      const S* hin = recurrent_input(HS + t * B * H, D, HB, B * H);
      // pass 2: through rh = r * h_in
      for (int64_t b = 0; b < B; ++b) {
        S* __restrict d = dxt + b * G; const S* __restrict gr = GT + (t * B + b) * G;
        const S* __restrict drr = DRH + b * H; const S* __restrict hr = hin + b * H;
        S* __restrict di = DHIN + b * H;
        for (int64_t j = 0; j < H; ++j) {
          const S r = gr[j];
          d[j] = drr[j] * hr[j] * r * (1 - r);
          di[j] = drr[j] * r;
        }
      }
      Wrz.mm(dxt, G, S(1), DHIN, H);
      if (D) { for (int64_t k = 0; k < B * H; ++k) DH[k] += DHIN[k] * D[k]; }
      else { for (int64_t k = 0; k < B * H; ++k) DH[k] += DHIN[k]; }
    }
  });
  Tensor hin = recurrent_inputs(hs, dmask, T);
  Tensor dw = at::cat({at::mm(dx.narrow(2, 0, 2 * H).reshape({T * B, 2 * H}).t(), hin),
                       at::mm(dx.narrow(2, 2 * H, H).reshape({T * B, H}).t(), rh.reshape({T * B, H}))}, 0);
  return {dx, dh, dw};
}

// ============================================================================ simple RNN
// h = act(x_t + W_hh h_{t-1}) with act tanh or relu; b_hh is folded into x. Returns out, hs.
std::vector<Tensor> rnn_forward(const Tensor& x, const Tensor& h0, const Tensor& w, const Tensor& mask,
                                const Tensor& dmask, bool relu) {
  const int64_t T = x.size(0), B = x.size(1), H = w.size(1);
  auto opts = x.options();
  Tensor hs = at::empty({T + 1, B, H}, opts), out = at::empty({T, B, H}, opts);
  Tensor pre = at::empty({B, H}, opts), hbuf = at::empty({B, H}, opts);
  initial_state(hs, h0);
  const bool* mp = mask_ptr(mask);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "rnn_forward", [&] {
    using S = scalar_t;
    const S *X = x.data_ptr<S>(), *W = w.data_ptr<S>(), *D = ptr<S>(dmask);
    S *HS = hs.data_ptr<S>(), *O = out.data_ptr<S>(), *P = pre.data_ptr<S>(), *HB = hbuf.data_ptr<S>();
    const RightOperand<S> Wt(W, H, true, B, H, H, T);
    for (int64_t t = 0; t < T; ++t) {
      const S* hp = HS + t * B * H; S* hn = HS + (t + 1) * B * H;
      std::memcpy(P, X + t * B * H, sizeof(S) * B * H);
      Wt.mm(recurrent_input(hp, D, HB, B * H), H, S(1), P, H);
      for (int64_t b = 0; b < B; ++b) {
        const bool m = mp ? mp[t * B + b] : true;
        const S* __restrict p = P + b * H; S* __restrict hnr = hn + b * H;
        S* __restrict orow = O + (t * B + b) * H;
        if (relu) { for (int64_t j = 0; j < H; ++j) hnr[j] = p[j] > 0 ? p[j] : S(0); }
        else { for (int64_t j = 0; j < H; ++j) hnr[j] = Math<S>::tanh(p[j]); }
        if (m) {
          std::memcpy(orow, hnr, sizeof(S) * H);
        } else {
          std::memset(orow, 0, sizeof(S) * H);
          std::memcpy(hnr, hp + b * H, sizeof(S) * H);
        }
      }
    }
  });
  return {out, hs, hs[T].clone()};
}

// Returns dx (T,B,H), dh0, dW_hh.
std::vector<Tensor> rnn_backward(const Tensor& grad_out, const Tensor& grad_h, const Tensor& hs, const Tensor& w,
                                 const Tensor& mask, const Tensor& dmask, bool relu) {
  const int64_t T = hs.size(0) - 1, B = hs.size(1), H = hs.size(2);
  Tensor dh = state_gradient(grad_h, B, H, hs.options()), dx = at::empty({T, B, H}, hs.options());
  Tensor dhin = at::empty({B, H}, hs.options());
  const bool* mp = mask_ptr(mask);
  AT_DISPATCH_FLOATING_TYPES(hs.scalar_type(), "rnn_backward", [&] {
    using S = scalar_t;
    const S *GO = grad_out.data_ptr<S>(), *HS = hs.data_ptr<S>(), *W = w.data_ptr<S>(), *D = ptr<S>(dmask);
    S *DX = dx.data_ptr<S>(), *DH = dh.data_ptr<S>(), *DHIN = dhin.data_ptr<S>();
    const RightOperand<S> Wb(W, H, false, B, H, H, T);
    for (int64_t t = T - 1; t >= 0; --t) {
      for (int64_t b = 0; b < B; ++b) {
        const bool m = mp ? mp[t * B + b] : true;
        const int64_t row = t * B + b;
        S* __restrict d = DX + row * H;
        if (!m) { std::memset(d, 0, sizeof(S) * H); continue; }
        const S* __restrict h = HS + (row + B) * H; const S* __restrict go = GO + row * H;
        S* __restrict dhp = DH + b * H;
        for (int64_t j = 0; j < H; ++j) {
          const S dhn = dhp[j] + go[j];
          d[j] = relu ? (h[j] > 0 ? dhn : S(0)) : dhn * (1 - h[j] * h[j]);
          dhp[j] = 0;
        }
      }
      recurrent_backward(Wb, DX + t * B * H, H, D, DHIN, DH, B, H);
    }
  });
  Tensor dw = at::mm(dx.reshape({T * B, H}).t(), recurrent_inputs(hs, dmask, T));
  return {dx, dh, dw};
}

// Forward-only kernels for inference (no saved states, input projections in cached blocks).
#include "inference.h"

bool uses_direct_blas() { return sgemm_ != nullptr && dgemm_ != nullptr; }
bool uses_packed_gemm() { return cblas_sgemm_pack != nullptr && cblas_sgemm_compute != nullptr; }

// One recurrent product as the kernels make it, for tests: returns (beta c + a op(w), the path
// RightOperand took), op(w) = w^T (w (N, K)) when trans, else w (K, N); a (M, K) may have a row
// stride (the backward reads rows of a wider buffer); uses: the products the kernel would make.
std::tuple<Tensor, std::string> recurrent_product(const Tensor& a, const Tensor& w, bool trans,
                                                  const Tensor& c, double beta, int64_t uses) {
  const char* name = "recurrent_product: argument ";
  TORCH_CHECK(a.dim() == 2 && a.stride(1) == 1, name, "`a` must be 2-D (M, K) with unit column ",
              "stride, got sizes ", a.sizes(), " strides ", a.strides());
  TORCH_CHECK(w.dim() == 2 && w.is_contiguous(), name, "`w` must be a contiguous 2-D tensor, got ",
              "sizes ", w.sizes(), " strides ", w.strides());
  const int64_t M = a.size(0), K = a.size(1), N = trans ? w.size(0) : w.size(1);
  TORCH_CHECK((trans ? w.size(1) : w.size(0)) == K, name, "`w` must be ",
              trans ? "(N, K)" : "(K, N)", " with K = ", K, ", got ", w.sizes());
  TORCH_CHECK(c.sizes() == at::IntArrayRef({M, N}), name, "`c` must be (", M, ", ", N, "), got ",
              c.sizes());
  TORCH_CHECK(w.scalar_type() == a.scalar_type() && c.scalar_type() == a.scalar_type(), name,
              "`w` and `c` must have a's dtype ", a.scalar_type(), ", got ", w.scalar_type(),
              " and ", c.scalar_type());
  Tensor out = c.contiguous().clone();
  std::string path;
  AT_DISPATCH_FLOATING_TYPES(a.scalar_type(), "recurrent_product", [&] {
    const RightOperand<scalar_t> op(w.data_ptr<scalar_t>(), w.size(1), trans, M, N, K, uses);
    op.mm(a.data_ptr<scalar_t>(), a.stride(0), scalar_t(beta), out.data_ptr<scalar_t>(), N);
    path = op.path();
  });
  return {out, path};
}

// ============================================================================ input projection
// The input projection of all steps around a recurrence's Function (kernels/projected.py), the
// same ATen calls the Python side made, in one call each way. inputs (T,B,I), w_ih (G*H,I);
// b_ih and b_fold (G*H) or empty. Returns x2 = inputs as (T*B,I) and A = x2 W_ih^T + b_ih
// (+ b_fold) as (T,B,G*H).
std::vector<Tensor> project_forward(const Tensor& inputs, const Tensor& w_ih, const Tensor& b_ih,
                                    const Tensor& b_fold) {
  const int64_t T = inputs.size(0), B = inputs.size(1);
  Tensor x2 = inputs.reshape({T * B, inputs.size(2)});  // a copy only if inputs are strided
  Tensor bias = present(b_fold) ? (present(b_ih) ? at::add(b_ih, b_fold) : b_fold) : b_ih;
  Tensor a = present(bias) ? at::addmm(bias, x2, w_ih.t()) : at::mm(x2, w_ih.t());
  return {x2, a.view({T, B, a.size(1)})};
}

// dA (T,B,G*H) the gradient of A -> dX (T,B,I) = dA W_ih, dW_ih = dA^T x2, db_ih and db_fold =
// the row sums of dA (two tensors where both are asked for); undefined (None) where not asked.
std::vector<Tensor> project_backward(const Tensor& d_projected, const Tensor& x2,
                                     const Tensor& w_ih, bool need_inputs, bool need_w,
                                     bool need_b_ih, bool need_b_fold) {
  const int64_t T = d_projected.size(0), B = d_projected.size(1);
  Tensor da = d_projected.reshape({x2.size(0), w_ih.size(0)});  // (T*B, G*H)
  Tensor dx = need_inputs ? da.mm(w_ih).view({T, B, x2.size(1)}) : Tensor();
  Tensor dw = need_w ? da.t().mm(x2) : Tensor();
  Tensor db = (need_b_ih || need_b_fold) ? da.sum(0) : Tensor();
  // never one tensor for two parameters
  Tensor db_fold = need_b_fold ? (need_b_ih ? db.clone() : db) : Tensor();
  return {dx, dw, need_b_ih ? db : Tensor(), db_fold};
}

// The recurrent-dropout mask (B,H) of rnnkit/cells/recurrent_dropout.py (draw_mask), with the
// same ATen calls on torch's default generator: 0 or 1/keep, keep = 1 - p.
Tensor dropout_mask(double p, int64_t B, int64_t H, const Tensor& like) {
  const double keep = 1.0 - p;
  return at::empty({B, H}, like.options()).bernoulli_(keep).div_(keep);
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("dropout_mask", &dropout_mask);
  m.def("project_forward", &project_forward);
  m.def("project_backward", &project_backward);
  m.def("lstm_forward", &lstm_forward);
  m.def("lstm_backward", &lstm_backward);
  m.def("lstm_ln_forward", &lstm_ln_forward);
  m.def("lstm_ln_backward", &lstm_ln_backward);
  m.def("lstm_step", &lstm_step);
  m.def("gru_forward", &gru_forward);
  m.def("gru_backward", &gru_backward);
  m.def("gru_nr_forward", &gru_nr_forward);
  m.def("gru_nr_backward", &gru_nr_backward);
  m.def("rnn_forward", &rnn_forward);
  m.def("rnn_backward", &rnn_backward);
  m.def("lstm_infer", &lstm_infer);
  m.def("gru_infer", &gru_infer);
  m.def("uses_direct_blas", &uses_direct_blas);
  m.def("uses_packed_gemm", &uses_packed_gemm);
  m.def("recurrent_product", &recurrent_product);
}
