// rnnkit fused recurrent kernels: forward and hand-derived backward through time.
//
// Every function takes time-major input projections x (T, B, G*H) that already hold
// W_ih x_t + b_ih (+ b_hh where the bias can be folded), runs the per-step loop in C++ with
// one matrix multiply per step (two for the original-form GRU) and the gate math fused into
// one pass over each row, and saves the states and gate activations the backward needs.
//
// mask (T, B) bool, empty when every step is valid: at a padded step the state is carried and
// the output is zero. dmask (B, H) recurrent-dropout mask (already scaled by 1/(1-p)), empty
// when off: it multiplies h_{t-1} where h_{t-1} enters a recurrent matrix multiply.
//
// The backward of every function returns dx (T, B, G*H): the gradient of the pre-activations,
// which is also the gradient of every bias folded into x.
//
// Speed: the per-step matrix multiplies call BLAS directly (the sgemm_/dgemm_ that torch's CPU
// build exports; through ATen when they are absent), so a step pays no dispatcher or tensor
// bookkeeping; float32 gate math uses a branch-free exp (Cephes polynomial, relative error
// ~1e-7) that the compiler vectorizes.

#include <torch/extension.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

using at::Tensor;

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
// made with the same W: packed once where MKL's packed GEMM is available (float32).
template <typename S> struct RightOperand {
  enum { kRowMajor = 101, kNoTrans = 111, kTrans = 112, kPacked = 151, kBMatrix = 162 };
  const S* w; int64_t ld; bool trans; int64_t M, N, K;
  Tensor packed;
  RightOperand(const S* w_, int64_t ld_, bool trans_, int64_t M_, int64_t N_, int64_t K_)
      : w(w_), ld(ld_), trans(trans_), M(M_), N(N_), K(K_) {
    if constexpr (std::is_same_v<S, float>) {
      static const bool enabled = std::getenv("RNNKIT_NO_PACKED_GEMM") == nullptr;
      if (enabled && cblas_sgemm_pack_get_size && cblas_sgemm_pack && cblas_sgemm_compute) {
        const size_t bytes = cblas_sgemm_pack_get_size(kBMatrix, int(M), int(N), int(K));
        packed = at::empty({int64_t(bytes / sizeof(float)) + 16}, at::kFloat);
        cblas_sgemm_pack(kRowMajor, kBMatrix, trans ? kTrans : kNoTrans, int(M), int(N), int(K), 1.0f, w, int(ld),
                         packed.data_ptr<float>());
      }
    }
  }
  void mm(const S* A, int64_t lda, S beta, S* C, int64_t ldc) const {
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

// Layer normalization statistics over n values: (mean, 1/sqrt(var + eps)).
template <typename S> inline void moments(const S* v, int64_t n, double eps, S& mean, S& rstd) {
  double s = 0, ss = 0;
  for (int64_t j = 0; j < n; ++j) s += v[j];
  const double mu = s / n;
  for (int64_t j = 0; j < n; ++j) { const double d = v[j] - mu; ss += d * d; }
  mean = S(mu);
  rstd = S(1.0 / std::sqrt(ss / n + eps));
}

// Backward of yhat = (v - mean) * rstd: dv = rstd (dy - mean(dy) - yhat mean(dy yhat)).
template <typename S> inline void layer_norm_back(const S* dy, const S* yhat, S rstd, int64_t n, S* dv) {
  double a = 0, b = 0;
  for (int64_t j = 0; j < n; ++j) { a += dy[j]; b += dy[j] * yhat[j]; }
  const S ma = S(a / n), mb = S(b / n);
  for (int64_t j = 0; j < n; ++j) dv[j] = rstd * (dy[j] - ma - yhat[j] * mb);
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

}  // namespace

// ============================================================================ LSTM
// Gates i, f, g, o. Without layer norm: a_t = x_t + W_hh h_{t-1}. With layer norm (ln_g given):
// a_t = x_t + ln_g * LN(W_hh h_{t-1}), h_t = o * tanh(lnc_g * LN(c_t) + lnc_b).
// Returns out (T,B,H), hs (T+1,B,H), cs (T+1,B,H), gates (T,B,4H) and, with layer norm,
// rhat (T,B,4H), rstd (T,B), chat (T,B,H), cstd (T,B).
std::vector<Tensor> lstm_forward(const Tensor& x, const Tensor& h0, const Tensor& c0, const Tensor& w,
                                 const Tensor& mask, const Tensor& dmask, const Tensor& ln_g,
                                 const Tensor& lnc_g, const Tensor& lnc_b, double eps) {
  const int64_t T = x.size(0), B = x.size(1), H = h0.size(1), G = 4 * H;
  const bool ln = present(ln_g);
  auto opts = x.options();
  Tensor hs = at::empty({T + 1, B, H}, opts), cs = at::empty({T + 1, B, H}, opts);
  Tensor gates = at::empty({T, B, G}, opts), out = at::empty({T, B, H}, opts);
  Tensor pre = at::empty({B, G}, opts), hbuf = at::empty({B, H}, opts);
  Tensor rhat, rstd, chat, cstd;
  if (ln) {
    rhat = at::empty({T, B, G}, opts); rstd = at::empty({T, B}, opts);
    chat = at::empty({T, B, H}, opts); cstd = at::empty({T, B}, opts);
  }
  hs[0].copy_(h0);
  cs[0].copy_(c0);
  const bool* mp = mask_ptr(mask);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lstm_forward", [&] {
    using S = scalar_t;
    const S *X = x.data_ptr<S>(), *W = w.data_ptr<S>(), *D = ptr<S>(dmask);
    S *HS = hs.data_ptr<S>(), *CS = cs.data_ptr<S>(), *GT = gates.data_ptr<S>(), *O = out.data_ptr<S>();
    S *P = pre.data_ptr<S>(), *HB = hbuf.data_ptr<S>();
    const S *LG = ptr<S>(ln_g), *CG = ptr<S>(lnc_g), *CB = ptr<S>(lnc_b);
    S *RH = ln ? rhat.data_ptr<S>() : nullptr, *RS = ln ? rstd.data_ptr<S>() : nullptr;
    S *CH = ln ? chat.data_ptr<S>() : nullptr, *CSD = ln ? cstd.data_ptr<S>() : nullptr;
    const RightOperand<S> Wt(W, H, true, B, G, H);
    for (int64_t t = 0; t < T; ++t) {
      const S* xt = X + t * B * G;
      const S* hp = HS + t * B * H; const S* cp = CS + t * B * H;
      S* hn = HS + (t + 1) * B * H; S* cn = CS + (t + 1) * B * H;
      if (!ln) std::memcpy(P, xt, sizeof(S) * B * G);
      Wt.mm(recurrent_input(hp, D, HB, B * H), H, ln ? S(0) : S(1), P, G);
      for (int64_t b = 0; b < B; ++b) {
        const bool m = mp ? mp[t * B + b] : true;
        S* a = P + b * G; S* gr = GT + (t * B + b) * G; S* o_row = O + (t * B + b) * H;
        const S* c_prev = cp + b * H; S* c_new = cn + b * H; S* h_new = hn + b * H;
        if (!ln) {
          lstm_row<S>(a, c_prev, gr, c_new, h_new, H);
        } else {
          S mu, rs;
          moments(a, G, eps, mu, rs);
          RS[t * B + b] = rs;
          S* rh = RH + (t * B + b) * G; const S* xr = xt + b * G;
          for (int64_t j = 0; j < G; ++j) { rh[j] = (a[j] - mu) * rs; a[j] = xr[j] + LG[j] * rh[j]; }
          S* ch = CH + (t * B + b) * H;
          for (int64_t j = 0; j < H; ++j) {
            const S i = Math<S>::sigmoid(a[j]), f = Math<S>::sigmoid(a[H + j]);
            const S g = Math<S>::tanh(a[2 * H + j]), o = Math<S>::sigmoid(a[3 * H + j]);
            gr[j] = i; gr[H + j] = f; gr[2 * H + j] = g; gr[3 * H + j] = o;
            c_new[j] = f * c_prev[j] + i * g;
          }
          moments(c_new, H, eps, mu, rs);
          CSD[t * B + b] = rs;
          for (int64_t j = 0; j < H; ++j) {
            ch[j] = (c_new[j] - mu) * rs;
            h_new[j] = gr[3 * H + j] * Math<S>::tanh(CG[j] * ch[j] + CB[j]);
          }
        }
        if (m) {
          std::memcpy(o_row, h_new, sizeof(S) * H);
        } else {
          std::memset(o_row, 0, sizeof(S) * H);
          std::memcpy(h_new, hp + b * H, sizeof(S) * H);
          std::memcpy(c_new, c_prev, sizeof(S) * H);
        }
      }
    }
  });
  if (ln) return {out, hs, cs, gates, rhat, rstd, chat, cstd};
  return {out, hs, cs, gates};
}

// Returns dx (T,B,4H), dh0, dc0, dW_hh and, with layer norm, d ln_g, d lnc_g, d lnc_b.
std::vector<Tensor> lstm_backward(const Tensor& grad_out, const Tensor& grad_h, const Tensor& grad_c,
                                  const Tensor& hs, const Tensor& cs, const Tensor& gates, const Tensor& w,
                                  const Tensor& mask, const Tensor& dmask, const Tensor& ln_g,
                                  const Tensor& lnc_g, const Tensor& lnc_b, const Tensor& rhat,
                                  const Tensor& rstd, const Tensor& chat, const Tensor& cstd) {
  const int64_t T = gates.size(0), B = gates.size(1), H = hs.size(2), G = 4 * H;
  const bool ln = present(ln_g);
  auto opts = gates.options();
  Tensor dh = grad_h.clone(), dc = grad_c.clone();
  Tensor dx = at::empty({T, B, G}, opts);
  Tensor dr = ln ? at::empty({T, B, G}, opts) : dx;  // gradient of the recurrent product W_hh h
  Tensor dyc = ln ? at::zeros({T, B, H}, opts) : Tensor();  // gradient of lnc_g * chat + lnc_b
  Tensor dhin = at::empty({B, H}, opts);
  const bool* mp = mask_ptr(mask);
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "lstm_backward", [&] {
    using S = scalar_t;
    const S *GO = grad_out.data_ptr<S>(), *GT = gates.data_ptr<S>(), *CS = cs.data_ptr<S>(), *W = w.data_ptr<S>();
    const S *D = ptr<S>(dmask), *LG = ptr<S>(ln_g), *CG = ptr<S>(lnc_g), *CB = ptr<S>(lnc_b);
    const S *RH = ptr<S>(rhat), *RS = ptr<S>(rstd), *CH = ptr<S>(chat), *CSD = ptr<S>(cstd);
    S *DX = dx.data_ptr<S>(), *DR = dr.data_ptr<S>(), *DH = dh.data_ptr<S>(), *DC = dc.data_ptr<S>();
    S *DY = ln ? dyc.data_ptr<S>() : nullptr, *DHIN = dhin.data_ptr<S>();
    std::vector<S> dcn_ln(ln ? H : 0), scratch(ln ? G : 0);
    const RightOperand<S> Wb(W, H, false, B, H, G);
    for (int64_t t = T - 1; t >= 0; --t) {
      for (int64_t b = 0; b < B; ++b) {
        const bool m = mp ? mp[t * B + b] : true;
        const int64_t row = t * B + b;
        S* da = DX + row * G;
        if (!m) {  // dh and dc are carried to the previous step unchanged
          std::memset(da, 0, sizeof(S) * G);
          if (ln) std::memset(DR + row * G, 0, sizeof(S) * G);
          continue;
        }
        const S* g4 = GT + row * G; const S* gor = GO + row * H;
        const S* cn = CS + (row + B) * H; const S* cp = CS + row * H;
        S* dhr = DH + b * H; S* dcr = DC + b * H;
        if (ln) {  // through h = o * tanh(y), y = lnc_g * chat + lnc_b, chat = LN(c)
          const S* ch = CH + row * H; S* dy = DY + row * H;
          for (int64_t j = 0; j < H; ++j) {
            const S dhn = dhr[j] + gor[j];
            const S ty = Math<S>::tanh(CG[j] * ch[j] + CB[j]);
            const S o = g4[3 * H + j];
            da[3 * H + j] = dhn * ty * o * (1 - o);
            dy[j] = dhn * o * (1 - ty * ty);
            scratch[j] = dy[j] * CG[j];
          }
          layer_norm_back(scratch.data(), ch, CSD[row], H, dcn_ln.data());
          for (int64_t j = 0; j < H; ++j) {
            const S i = g4[j], f = g4[H + j], g = g4[2 * H + j];
            const S dcn = dcr[j] + dcn_ln[j];
            da[j] = dcn * g * i * (1 - i);
            da[H + j] = dcn * cp[j] * f * (1 - f);
            da[2 * H + j] = dcn * i * (1 - g * g);
            dcr[j] = dcn * f;
          }
          const S* rh = RH + row * G;
          for (int64_t j = 0; j < G; ++j) scratch[j] = da[j] * LG[j];
          layer_norm_back(scratch.data(), rh, RS[row], G, DR + row * G);
        } else {
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
          }
        }
        std::memset(dhr, 0, sizeof(S) * H);
      }
      const S* drt = DR + t * B * G;
      if (D) {
        Wb.mm(drt, G, S(0), DHIN, H);
        for (int64_t k = 0; k < B * H; ++k) DH[k] += DHIN[k] * D[k];
      } else {
        Wb.mm(drt, G, S(1), DH, H);
      }
    }
  });
  Tensor dw = at::mm(dr.reshape({T * B, G}).t(), recurrent_inputs(hs, dmask, T));
  if (ln) {
    Tensor d_ln_g = (dx * rhat).sum({0, 1});
    Tensor d_lnc_g = (dyc * chat).sum({0, 1});
    Tensor d_lnc_b = dyc.sum({0, 1});
    return {dx, dh, dc, dw, d_ln_g, d_lnc_g, d_lnc_b};
  }
  return {dx, dh, dc, dw};
}

// ============================================================================ GRU, reset after
// r = s(x_r + hh_r), z = s(x_z + hh_z), n = tanh(x_n + r * hh_n), h = (1 - z) n + z h_{t-1},
// with hh = W_hh h_{t-1} + b_hh. Returns out, hs, gates (T,B,4H) holding r, z, n, hh_n.
std::vector<Tensor> gru_forward(const Tensor& x, const Tensor& h0, const Tensor& w, const Tensor& b_hh,
                                const Tensor& mask, const Tensor& dmask) {
  const int64_t T = x.size(0), B = x.size(1), H = h0.size(1), G = 3 * H;
  auto opts = x.options();
  Tensor hs = at::empty({T + 1, B, H}, opts), out = at::empty({T, B, H}, opts);
  Tensor gates = at::empty({T, B, 4 * H}, opts), hh = at::empty({B, G}, opts), hbuf = at::empty({B, H}, opts);
  hs[0].copy_(h0);
  const bool* mp = mask_ptr(mask);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "gru_forward", [&] {
    using S = scalar_t;
    const S *X = x.data_ptr<S>(), *W = w.data_ptr<S>(), *D = ptr<S>(dmask), *BH = ptr<S>(b_hh);
    S *HS = hs.data_ptr<S>(), *GT = gates.data_ptr<S>(), *O = out.data_ptr<S>(), *HH = hh.data_ptr<S>();
    S* HB = hbuf.data_ptr<S>();
    const RightOperand<S> Wt(W, H, true, B, G, H);
    for (int64_t t = 0; t < T; ++t) {
      const S* hp = HS + t * B * H; S* hn = HS + (t + 1) * B * H;
      for (int64_t b = 0; b < B; ++b) {
        if (BH) std::memcpy(HH + b * G, BH, sizeof(S) * G); else std::memset(HH + b * G, 0, sizeof(S) * G);
      }
      Wt.mm(recurrent_input(hp, D, HB, B * H), H, S(1), HH, G);
      for (int64_t b = 0; b < B; ++b) {
        const bool m = mp ? mp[t * B + b] : true;
        const int64_t row = t * B + b;
        const S* __restrict xr = X + row * G; const S* __restrict hr = HH + b * G;
        S* __restrict gr = GT + row * 4 * H; const S* __restrict hpr = hp + b * H;
        S* __restrict hnr = hn + b * H; S* __restrict orow = O + row * H;
        for (int64_t j = 0; j < H; ++j) {
          const S r = Math<S>::sigmoid(xr[j] + hr[j]), z = Math<S>::sigmoid(xr[H + j] + hr[H + j]);
          const S n = Math<S>::tanh(xr[2 * H + j] + r * hr[2 * H + j]);
          gr[j] = r; gr[H + j] = z; gr[2 * H + j] = n; gr[3 * H + j] = hr[2 * H + j];
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
  return {out, hs, gates};
}

// Returns dx (T,B,3H), dh0, dW_hh, db_hh.
std::vector<Tensor> gru_backward(const Tensor& grad_out, const Tensor& grad_h, const Tensor& hs,
                                 const Tensor& gates, const Tensor& w, const Tensor& mask, const Tensor& dmask) {
  const int64_t T = gates.size(0), B = gates.size(1), H = hs.size(2), G = 3 * H;
  auto opts = gates.options();
  Tensor dh = grad_h.clone(), dhin = at::empty({B, H}, opts);
  Tensor dx = at::empty({T, B, G}, opts), dhh = at::empty({T, B, G}, opts);
  const bool* mp = mask_ptr(mask);
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "gru_backward", [&] {
    using S = scalar_t;
    const S *GO = grad_out.data_ptr<S>(), *GT = gates.data_ptr<S>(), *HS = hs.data_ptr<S>(), *W = w.data_ptr<S>();
    const S* D = ptr<S>(dmask);
    S *DX = dx.data_ptr<S>(), *DHH = dhh.data_ptr<S>(), *DH = dh.data_ptr<S>(), *DHIN = dhin.data_ptr<S>();
    const RightOperand<S> Wb(W, H, false, B, H, G);
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
        const S* __restrict gr = GT + row * 4 * H; const S* __restrict hp = HS + row * H;
        const S* __restrict go = GO + row * H; S* __restrict dhp = DH + b * H;
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
      const S* dht = DHH + t * B * G;
      if (D) {
        Wb.mm(dht, G, S(0), DHIN, H);
        for (int64_t k = 0; k < B * H; ++k) DH[k] += DHIN[k] * D[k];
      } else {
        Wb.mm(dht, G, S(1), DH, H);
      }
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
  const int64_t T = x.size(0), B = x.size(1), H = h0.size(1), G = 3 * H;
  auto opts = x.options();
  Tensor hs = at::empty({T + 1, B, H}, opts), out = at::empty({T, B, H}, opts);
  Tensor gates = at::empty({T, B, G}, opts), rh = at::empty({T, B, H}, opts);
  Tensor pre = at::empty({B, G}, opts), hbuf = at::empty({B, H}, opts);
  hs[0].copy_(h0);
  const bool* mp = mask_ptr(mask);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "gru_nr_forward", [&] {
    using S = scalar_t;
    const S *X = x.data_ptr<S>(), *W = w.data_ptr<S>(), *D = ptr<S>(dmask);
    S *HS = hs.data_ptr<S>(), *GT = gates.data_ptr<S>(), *O = out.data_ptr<S>(), *RH = rh.data_ptr<S>();
    S *P = pre.data_ptr<S>(), *HB = hbuf.data_ptr<S>();
    const RightOperand<S> Wrz(W, H, true, B, 2 * H, H), Wn(W + 2 * H * H, H, true, B, H, H);
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
  return {out, hs, gates, rh};
}

// Returns dx (T,B,3H), dh0, dW_hh.
std::vector<Tensor> gru_nr_backward(const Tensor& grad_out, const Tensor& grad_h, const Tensor& hs,
                                    const Tensor& gates, const Tensor& rh, const Tensor& w, const Tensor& mask,
                                    const Tensor& dmask) {
  const int64_t T = gates.size(0), B = gates.size(1), H = hs.size(2), G = 3 * H;
  auto opts = gates.options();
  Tensor dh = grad_h.clone(), dx = at::empty({T, B, G}, opts);
  Tensor drh = at::empty({B, H}, opts), dhin = at::empty({B, H}, opts), hbuf = at::empty({B, H}, opts);
  const bool* mp = mask_ptr(mask);
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "gru_nr_backward", [&] {
    using S = scalar_t;
    const S *GO = grad_out.data_ptr<S>(), *GT = gates.data_ptr<S>(), *HS = hs.data_ptr<S>(), *W = w.data_ptr<S>();
    const S* D = ptr<S>(dmask);
    S *DX = dx.data_ptr<S>(), *DH = dh.data_ptr<S>(), *DRH = drh.data_ptr<S>(), *DHIN = dhin.data_ptr<S>();
    S* HB = hbuf.data_ptr<S>();
    const RightOperand<S> Wrz(W, H, false, B, H, 2 * H), Wn(W + 2 * H * H, H, false, B, H, H);
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
  const int64_t T = x.size(0), B = x.size(1), H = h0.size(1);
  auto opts = x.options();
  Tensor hs = at::empty({T + 1, B, H}, opts), out = at::empty({T, B, H}, opts);
  Tensor pre = at::empty({B, H}, opts), hbuf = at::empty({B, H}, opts);
  hs[0].copy_(h0);
  const bool* mp = mask_ptr(mask);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "rnn_forward", [&] {
    using S = scalar_t;
    const S *X = x.data_ptr<S>(), *W = w.data_ptr<S>(), *D = ptr<S>(dmask);
    S *HS = hs.data_ptr<S>(), *O = out.data_ptr<S>(), *P = pre.data_ptr<S>(), *HB = hbuf.data_ptr<S>();
    const RightOperand<S> Wt(W, H, true, B, H, H);
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
  return {out, hs};
}

// Returns dx (T,B,H), dh0, dW_hh.
std::vector<Tensor> rnn_backward(const Tensor& grad_out, const Tensor& grad_h, const Tensor& hs, const Tensor& w,
                                 const Tensor& mask, const Tensor& dmask, bool relu) {
  const int64_t T = hs.size(0) - 1, B = hs.size(1), H = hs.size(2);
  Tensor dh = grad_h.clone(), dx = at::empty({T, B, H}, hs.options()), dhin = at::empty({B, H}, hs.options());
  const bool* mp = mask_ptr(mask);
  AT_DISPATCH_FLOATING_TYPES(hs.scalar_type(), "rnn_backward", [&] {
    using S = scalar_t;
    const S *GO = grad_out.data_ptr<S>(), *HS = hs.data_ptr<S>(), *W = w.data_ptr<S>(), *D = ptr<S>(dmask);
    S *DX = dx.data_ptr<S>(), *DH = dh.data_ptr<S>(), *DHIN = dhin.data_ptr<S>();
    const RightOperand<S> Wb(W, H, false, B, H, H);
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
      const S* dxt = DX + t * B * H;
      if (D) {
        Wb.mm(dxt, H, S(0), DHIN, H);
        for (int64_t k = 0; k < B * H; ++k) DH[k] += DHIN[k] * D[k];
      } else {
        Wb.mm(dxt, H, S(1), DH, H);
      }
    }
  });
  Tensor dw = at::mm(dx.reshape({T * B, H}).t(), recurrent_inputs(hs, dmask, T));
  return {dx, dh, dw};
}

bool uses_direct_blas() { return sgemm_ != nullptr && dgemm_ != nullptr; }
bool uses_packed_gemm() { return cblas_sgemm_pack != nullptr && cblas_sgemm_compute != nullptr; }

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("lstm_forward", &lstm_forward);
  m.def("lstm_backward", &lstm_backward);
  m.def("gru_forward", &gru_forward);
  m.def("gru_backward", &gru_backward);
  m.def("gru_nr_forward", &gru_nr_forward);
  m.def("gru_nr_backward", &gru_nr_backward);
  m.def("rnn_forward", &rnn_forward);
  m.def("rnn_backward", &rnn_backward);
  m.def("uses_direct_blas", &uses_direct_blas);
  m.def("uses_packed_gemm", &uses_packed_gemm);
}
