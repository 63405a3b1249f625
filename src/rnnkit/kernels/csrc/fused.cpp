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

#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <vector>

using at::Tensor;

namespace {

template <typename S> inline S sigm(S x) { return S(1) / (S(1) + std::exp(-x)); }

inline bool present(const Tensor& t) { return t.defined() && t.numel() > 0; }

// Rows b of a (B, ...) problem, in parallel when the batch is large enough to pay for it.
template <typename F> inline void rows(int64_t B, int64_t work_per_row, const F& f) {
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, work_per_row));
  at::parallel_for(0, B, grain, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) f(b);
  });
}

// h_{t-1} as it enters the recurrent matrix multiply.
inline Tensor recurrent_input(const Tensor& h, const Tensor& dmask) { return present(dmask) ? h * dmask : h; }

// Row statistics for layer normalization over n values: returns (mean, 1/sqrt(var + eps)).
template <typename S> inline void moments(const S* v, int64_t n, double eps, S& mean, S& rstd) {
  double s = 0, ss = 0;
  for (int64_t j = 0; j < n; ++j) s += v[j];
  const double mu = s / n;
  for (int64_t j = 0; j < n; ++j) { const double d = v[j] - mu; ss += d * d; }
  mean = S(mu);
  rstd = S(1.0 / std::sqrt(ss / n + eps));
}

// Backward of y = (v - mean) * rstd given dy (= dL/dy) and yhat: dv = rstd (dy - mean(dy) - yhat mean(dy yhat)).
template <typename S> inline void layer_norm_back(const S* dy, const S* yhat, S rstd, int64_t n, S* dv) {
  double a = 0, b = 0;
  for (int64_t j = 0; j < n; ++j) { a += dy[j]; b += dy[j] * yhat[j]; }
  const S ma = S(a / n), mb = S(b / n);
  for (int64_t j = 0; j < n; ++j) dv[j] = rstd * (dy[j] - ma - yhat[j] * mb);
}

}  // namespace

// ============================================================================ LSTM
// Gates i, f, g, o. Without layer norm: a_t = x_t + W_hh h_{t-1}. With layer norm (ln_g defined):
// a_t = x_t + ln_g * LN(W_hh h_{t-1}), h_t = o * tanh(lnc_g * LN(c_t) + lnc_b).
// Returns out (T,B,H), hs (T+1,B,H), cs (T+1,B,H), gates (T,B,4H) and, with layer norm,
// rhat (T,B,4H), rstd (T,B), chat (T,B,H), cstd (T,B).
std::vector<Tensor> lstm_forward(const Tensor& x, const Tensor& h0, const Tensor& c0, const Tensor& w,
                                 const Tensor& mask, const Tensor& dmask, const Tensor& ln_g,
                                 const Tensor& lnc_g, const Tensor& lnc_b, double eps) {
  const int64_t T = x.size(0), B = x.size(1), H = h0.size(1), G = 4 * H;
  const bool ln = present(ln_g), has_mask = present(mask);
  auto opts = x.options();
  Tensor hs = at::empty({T + 1, B, H}, opts), cs = at::empty({T + 1, B, H}, opts);
  Tensor gates = at::empty({T, B, G}, opts), out = at::empty({T, B, H}, opts);
  Tensor pre = at::empty({B, G}, opts);
  Tensor rhat, rstd, chat, cstd;
  if (ln) {
    rhat = at::empty({T, B, G}, opts); rstd = at::empty({T, B}, opts);
    chat = at::empty({T, B, H}, opts); cstd = at::empty({T, B}, opts);
  }
  hs[0].copy_(h0);
  cs[0].copy_(c0);
  const Tensor wt = w.t();
  const bool* mp = has_mask ? mask.data_ptr<bool>() : nullptr;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lstm_forward", [&] {
    using S = scalar_t;
    for (int64_t t = 0; t < T; ++t) {
      const Tensor hin = recurrent_input(hs[t], dmask);
      if (ln) at::mm_out(pre, hin, wt); else at::addmm_out(pre, x[t], hin, wt);
      const S* xp = x[t].data_ptr<S>();
      S* pp = pre.data_ptr<S>();
      const S* hp = hs[t].data_ptr<S>(); const S* cp = cs[t].data_ptr<S>();
      S* hn = hs[t + 1].data_ptr<S>(); S* cn = cs[t + 1].data_ptr<S>();
      S* gp = gates[t].data_ptr<S>(); S* op = out[t].data_ptr<S>();
      rows(B, 8 * G, [&](int64_t b) {
        const bool m = mp ? mp[t * B + b] : true;
        S* a = pp + b * G; S* gr = gp + b * G;
        const S* c_prev = cp + b * H; S* c_new = cn + b * H; S* h_new = hn + b * H; S* o_row = op + b * H;
        if (ln) {
          S mu, rs;
          moments(a, G, eps, mu, rs);
          rstd.data_ptr<S>()[t * B + b] = rs;
          S* rh = rhat.data_ptr<S>() + (t * B + b) * G;
          const S* g = ln_g.data_ptr<S>(); const S* xr = xp + b * G;
          for (int64_t j = 0; j < G; ++j) { rh[j] = (a[j] - mu) * rs; a[j] = xr[j] + g[j] * rh[j]; }
        }
        S* ch = ln ? chat.data_ptr<S>() + (t * B + b) * H : nullptr;
        for (int64_t j = 0; j < H; ++j) {
          const S i = sigm(a[j]), f = sigm(a[H + j]), g = std::tanh(a[2 * H + j]), o = sigm(a[3 * H + j]);
          gr[j] = i; gr[H + j] = f; gr[2 * H + j] = g; gr[3 * H + j] = o;
          const S c = f * c_prev[j] + i * g;
          if (ln) ch[j] = c; else { c_new[j] = c; h_new[j] = o * std::tanh(c); }
        }
        if (ln) {  // normalize c over the row, then h = o * tanh(lnc_g * chat + lnc_b)
          S mu, rs;
          moments(ch, H, eps, mu, rs);
          cstd.data_ptr<S>()[t * B + b] = rs;
          const S* cg = lnc_g.data_ptr<S>(); const S* cb = lnc_b.data_ptr<S>();
          for (int64_t j = 0; j < H; ++j) {
            c_new[j] = ch[j];
            ch[j] = (ch[j] - mu) * rs;
            h_new[j] = gr[3 * H + j] * std::tanh(cg[j] * ch[j] + cb[j]);
          }
        }
        if (m) {
          for (int64_t j = 0; j < H; ++j) o_row[j] = h_new[j];
        } else {
          for (int64_t j = 0; j < H; ++j) { o_row[j] = 0; h_new[j] = hp[b * H + j]; c_new[j] = c_prev[j]; }
        }
      });
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
  const bool* mp = present(mask) ? mask.data_ptr<bool>() : nullptr;
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "lstm_backward", [&] {
    using S = scalar_t;
    for (int64_t t = T - 1; t >= 0; --t) {
      const S* go = grad_out[t].data_ptr<S>();
      const S* gr = gates[t].data_ptr<S>();
      const S* cp = cs[t].data_ptr<S>(); const S* cn = cs[t + 1].data_ptr<S>();
      S* dxp = dx[t].data_ptr<S>(); S* drp = dr[t].data_ptr<S>();
      S* dhp = dh.data_ptr<S>(); S* dcp = dc.data_ptr<S>();
      rows(B, 8 * G, [&](int64_t b) {
        const bool m = mp ? mp[t * B + b] : true;
        S* da = dxp + b * G;
        if (!m) {
          for (int64_t j = 0; j < G; ++j) da[j] = 0;
          if (ln) for (int64_t j = 0; j < G; ++j) drp[b * G + j] = 0;
          return;  // dh and dc are carried to the previous step unchanged
        }
        const S* g4 = gr + b * G; S* dhr = dhp + b * H; S* dcr = dcp + b * H;
        const S* gor = go + b * H;
        std::vector<S> dcn_buf(ln ? H : 0);
        if (ln) {  // gradient through h = o * tanh(y), y = lnc_g * chat + lnc_b, chat = LN(c)
          const S* ch = chat.data_ptr<S>() + (t * B + b) * H;
          const S* cg = lnc_g.data_ptr<S>(); const S* cb = lnc_b.data_ptr<S>();
          S* dy = dyc.data_ptr<S>() + (t * B + b) * H;
          std::vector<S> dchat(H);
          for (int64_t j = 0; j < H; ++j) {
            const S dhn = dhr[j] + gor[j];
            const S ty = std::tanh(cg[j] * ch[j] + cb[j]);
            const S o = g4[3 * H + j];
            da[3 * H + j] = dhn * ty * o * (1 - o);
            dy[j] = dhn * o * (1 - ty * ty);
            dchat[j] = dy[j] * cg[j];
          }
          layer_norm_back(dchat.data(), ch, cstd.data_ptr<S>()[t * B + b], H, dcn_buf.data());
        }
        for (int64_t j = 0; j < H; ++j) {
          const S i = g4[j], f = g4[H + j], g = g4[2 * H + j], o = g4[3 * H + j];
          S dcn;
          if (ln) {
            dcn = dcr[j] + dcn_buf[j];
          } else {
            const S dhn = dhr[j] + gor[j];
            const S tc = std::tanh(cn[b * H + j]);
            da[3 * H + j] = dhn * tc * o * (1 - o);
            dcn = dcr[j] + dhn * o * (1 - tc * tc);
          }
          da[j] = dcn * g * i * (1 - i);
          da[H + j] = dcn * cp[b * H + j] * f * (1 - f);
          da[2 * H + j] = dcn * i * (1 - g * g);
          dcr[j] = dcn * f;
          dhr[j] = 0;
        }
        if (ln) {  // a = x + ln_g * rhat, rhat = LN(W_hh h): back to the recurrent product
          const S* rh = rhat.data_ptr<S>() + (t * B + b) * G;
          const S* lg = ln_g.data_ptr<S>();
          std::vector<S> drhat(G);
          for (int64_t j = 0; j < G; ++j) drhat[j] = da[j] * lg[j];
          layer_norm_back(drhat.data(), rh, rstd.data_ptr<S>()[t * B + b], G, drp + b * G);
        }
      });
      if (present(dmask)) dh.addcmul_(at::mm(dr[t], w), dmask);
      else dh.addmm_(dr[t], w);
    }
  });
  const Tensor hin = recurrent_input(hs.narrow(0, 0, T), dmask).reshape({T * B, H});
  Tensor dw = at::mm(dr.reshape({T * B, G}).t(), hin);
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
  Tensor gates = at::empty({T, B, 4 * H}, opts), hh = at::empty({B, G}, opts);
  hs[0].copy_(h0);
  const Tensor wt = w.t();
  const Tensor bias = present(b_hh) ? b_hh.unsqueeze(0).expand({B, G}) : at::zeros({B, G}, opts);
  const bool* mp = present(mask) ? mask.data_ptr<bool>() : nullptr;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "gru_forward", [&] {
    using S = scalar_t;
    for (int64_t t = 0; t < T; ++t) {
      at::addmm_out(hh, bias, recurrent_input(hs[t], dmask), wt);
      const S* xp = x[t].data_ptr<S>(); const S* hhp = hh.data_ptr<S>();
      const S* hp = hs[t].data_ptr<S>(); S* hn = hs[t + 1].data_ptr<S>();
      S* gp = gates[t].data_ptr<S>(); S* op = out[t].data_ptr<S>();
      rows(B, 6 * G, [&](int64_t b) {
        const bool m = mp ? mp[t * B + b] : true;
        const S* xr = xp + b * G; const S* hr = hhp + b * G; S* gr = gp + b * 4 * H;
        for (int64_t j = 0; j < H; ++j) {
          const S r = sigm(xr[j] + hr[j]), z = sigm(xr[H + j] + hr[H + j]);
          const S n = std::tanh(xr[2 * H + j] + r * hr[2 * H + j]);
          gr[j] = r; gr[H + j] = z; gr[2 * H + j] = n; gr[3 * H + j] = hr[2 * H + j];
          const S h_prev = hp[b * H + j];
          const S h = m ? (1 - z) * n + z * h_prev : h_prev;
          hn[b * H + j] = h;
          op[b * H + j] = m ? h : S(0);
        }
      });
    }
  });
  return {out, hs, gates};
}

// Returns dx (T,B,3H), dh0, dW_hh, db_hh.
std::vector<Tensor> gru_backward(const Tensor& grad_out, const Tensor& grad_h, const Tensor& hs,
                                 const Tensor& gates, const Tensor& w, const Tensor& mask, const Tensor& dmask) {
  const int64_t T = gates.size(0), B = gates.size(1), H = hs.size(2), G = 3 * H;
  auto opts = gates.options();
  Tensor dh = grad_h.clone();
  Tensor dx = at::empty({T, B, G}, opts), dhh = at::empty({T, B, G}, opts);
  const bool* mp = present(mask) ? mask.data_ptr<bool>() : nullptr;
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "gru_backward", [&] {
    using S = scalar_t;
    for (int64_t t = T - 1; t >= 0; --t) {
      const S* go = grad_out[t].data_ptr<S>(); const S* gp = gates[t].data_ptr<S>();
      const S* hp = hs[t].data_ptr<S>();
      S* dxp = dx[t].data_ptr<S>(); S* dhhp = dhh[t].data_ptr<S>(); S* dhp = dh.data_ptr<S>();
      rows(B, 6 * G, [&](int64_t b) {
        const bool m = mp ? mp[t * B + b] : true;
        S* dxr = dxp + b * G; S* dhr = dhhp + b * G;
        if (!m) {
          for (int64_t j = 0; j < G; ++j) { dxr[j] = 0; dhr[j] = 0; }
          return;
        }
        const S* gr = gp + b * 4 * H;
        for (int64_t j = 0; j < H; ++j) {
          const S r = gr[j], z = gr[H + j], n = gr[2 * H + j], hhn = gr[3 * H + j];
          const S dhn = dhp[b * H + j] + go[b * H + j];
          const S dan = dhn * (1 - z) * (1 - n * n);
          const S dar = dan * hhn * r * (1 - r);
          const S daz = dhn * (hp[b * H + j] - n) * z * (1 - z);
          dxr[j] = dar; dxr[H + j] = daz; dxr[2 * H + j] = dan;
          dhr[j] = dar; dhr[H + j] = daz; dhr[2 * H + j] = dan * r;
          dhp[b * H + j] = dhn * z;
        }
      });
      if (present(dmask)) dh.addcmul_(at::mm(dhh[t], w), dmask);
      else dh.addmm_(dhh[t], w);
    }
  });
  const Tensor hin = recurrent_input(hs.narrow(0, 0, T), dmask).reshape({T * B, H});
  Tensor dw = at::mm(dhh.reshape({T * B, G}).t(), hin);
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
  Tensor rz = at::empty({B, 2 * H}, opts), nn = at::empty({B, H}, opts);
  hs[0].copy_(h0);
  const Tensor w_rz_t = w.narrow(0, 0, 2 * H).t(), w_n_t = w.narrow(0, 2 * H, H).t();
  const bool* mp = present(mask) ? mask.data_ptr<bool>() : nullptr;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "gru_nr_forward", [&] {
    using S = scalar_t;
    for (int64_t t = 0; t < T; ++t) {
      const Tensor hin = recurrent_input(hs[t], dmask).contiguous();
      const Tensor xt = x[t];
      at::addmm_out(rz, xt.narrow(1, 0, 2 * H), hin, w_rz_t);
      const S* rzp = rz.data_ptr<S>(); const S* hinp = hin.data_ptr<S>();
      S* gp = gates[t].data_ptr<S>(); S* rhp = rh[t].data_ptr<S>();
      rows(B, 4 * H, [&](int64_t b) {
        for (int64_t j = 0; j < H; ++j) {
          const S r = sigm(rzp[b * 2 * H + j]), z = sigm(rzp[b * 2 * H + H + j]);
          gp[b * G + j] = r; gp[b * G + H + j] = z;
          rhp[b * H + j] = r * hinp[b * H + j];
        }
      });
      at::addmm_out(nn, xt.narrow(1, 2 * H, H), rh[t], w_n_t);
      const S* np = nn.data_ptr<S>(); const S* hp = hs[t].data_ptr<S>();
      S* hn = hs[t + 1].data_ptr<S>(); S* op = out[t].data_ptr<S>();
      rows(B, 4 * H, [&](int64_t b) {
        const bool m = mp ? mp[t * B + b] : true;
        for (int64_t j = 0; j < H; ++j) {
          const S n = std::tanh(np[b * H + j]), z = gp[b * G + H + j];
          gp[b * G + 2 * H + j] = n;
          const S h_prev = hp[b * H + j];
          const S h = m ? (1 - z) * n + z * h_prev : h_prev;
          hn[b * H + j] = h;
          op[b * H + j] = m ? h : S(0);
        }
      });
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
  Tensor drh = at::empty({B, H}, opts), dhin = at::empty({B, H}, opts);
  const Tensor w_rz = w.narrow(0, 0, 2 * H), w_n = w.narrow(0, 2 * H, H);
  const bool* mp = present(mask) ? mask.data_ptr<bool>() : nullptr;
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "gru_nr_backward", [&] {
    using S = scalar_t;
    for (int64_t t = T - 1; t >= 0; --t) {
      const S* go = grad_out[t].data_ptr<S>(); const S* gp = gates[t].data_ptr<S>();
      const S* hp = hs[t].data_ptr<S>();
      S* dxp = dx[t].data_ptr<S>(); S* dhp = dh.data_ptr<S>();
      // pass 1: through h = (1 - z) n + z h_prev; keep dh_prev's direct part in dh
      rows(B, 4 * H, [&](int64_t b) {
        const bool m = mp ? mp[t * B + b] : true;
        S* d = dxp + b * G;
        for (int64_t j = 0; j < H; ++j) {
          if (!m) { d[j] = 0; d[H + j] = 0; d[2 * H + j] = 0; continue; }
          const S z = gp[b * G + H + j], n = gp[b * G + 2 * H + j];
          const S dhn = dhp[b * H + j] + go[b * H + j];
          d[2 * H + j] = dhn * (1 - z) * (1 - n * n);
          d[H + j] = dhn * (hp[b * H + j] - n) * z * (1 - z);
          dhp[b * H + j] = dhn * z;
        }
      });
      const Tensor hin = recurrent_input(hs[t], dmask).contiguous();
      at::mm_out(drh, dx[t].narrow(1, 2 * H, H), w_n);  // d(r * h_in)
      const S* drhp = drh.data_ptr<S>(); const S* hinp = hin.data_ptr<S>();
      S* dhinp = dhin.data_ptr<S>();
      // pass 2: through rh = r * h_in
      rows(B, 4 * H, [&](int64_t b) {
        S* d = dxp + b * G;
        for (int64_t j = 0; j < H; ++j) {
          const S r = gp[b * G + j];
          d[j] = drhp[b * H + j] * hinp[b * H + j] * r * (1 - r);
          dhinp[b * H + j] = drhp[b * H + j] * r;
        }
      });
      at::addmm_out(dhin, dhin, dx[t].narrow(1, 0, 2 * H), w_rz);
      if (present(dmask)) dh.addcmul_(dhin, dmask); else dh.add_(dhin);
    }
  });
  const Tensor hin = recurrent_input(hs.narrow(0, 0, T), dmask).reshape({T * B, H});
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
  Tensor hs = at::empty({T + 1, B, H}, opts), out = at::empty({T, B, H}, opts), pre = at::empty({B, H}, opts);
  hs[0].copy_(h0);
  const Tensor wt = w.t();
  const bool* mp = present(mask) ? mask.data_ptr<bool>() : nullptr;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "rnn_forward", [&] {
    using S = scalar_t;
    for (int64_t t = 0; t < T; ++t) {
      at::addmm_out(pre, x[t], recurrent_input(hs[t], dmask), wt);
      const S* pp = pre.data_ptr<S>(); const S* hp = hs[t].data_ptr<S>();
      S* hn = hs[t + 1].data_ptr<S>(); S* op = out[t].data_ptr<S>();
      rows(B, 4 * H, [&](int64_t b) {
        const bool m = mp ? mp[t * B + b] : true;
        for (int64_t j = 0; j < H; ++j) {
          const S a = pp[b * H + j];
          const S h = relu ? (a > 0 ? a : S(0)) : std::tanh(a);
          hn[b * H + j] = m ? h : hp[b * H + j];
          op[b * H + j] = m ? h : S(0);
        }
      });
    }
  });
  return {out, hs};
}

// Returns dx (T,B,H), dh0, dW_hh.
std::vector<Tensor> rnn_backward(const Tensor& grad_out, const Tensor& grad_h, const Tensor& hs, const Tensor& w,
                                 const Tensor& mask, const Tensor& dmask, bool relu) {
  const int64_t T = hs.size(0) - 1, B = hs.size(1), H = hs.size(2);
  Tensor dh = grad_h.clone(), dx = at::empty({T, B, H}, hs.options());
  const bool* mp = present(mask) ? mask.data_ptr<bool>() : nullptr;
  AT_DISPATCH_FLOATING_TYPES(hs.scalar_type(), "rnn_backward", [&] {
    using S = scalar_t;
    for (int64_t t = T - 1; t >= 0; --t) {
      const S* go = grad_out[t].data_ptr<S>(); const S* hn = hs[t + 1].data_ptr<S>();
      S* dxp = dx[t].data_ptr<S>(); S* dhp = dh.data_ptr<S>();
      rows(B, 4 * H, [&](int64_t b) {
        const bool m = mp ? mp[t * B + b] : true;
        for (int64_t j = 0; j < H; ++j) {
          const int64_t k = b * H + j;
          if (!m) { dxp[k] = 0; continue; }
          const S h = hn[k], dhn = dhp[k] + go[k];
          dxp[k] = relu ? (h > 0 ? dhn : S(0)) : dhn * (1 - h * h);
          dhp[k] = 0;
        }
      });
      if (present(dmask)) dh.addcmul_(at::mm(dx[t], w), dmask);
      else dh.addmm_(dx[t], w);
    }
  });
  const Tensor hin = recurrent_input(hs.narrow(0, 0, T), dmask).reshape({T * B, H});
  Tensor dw = at::mm(dx.reshape({T * B, H}).t(), hin);
  return {dx, dh, dw};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("lstm_forward", &lstm_forward);
  m.def("lstm_backward", &lstm_backward);
  m.def("gru_forward", &gru_forward);
  m.def("gru_backward", &gru_backward);
  m.def("gru_nr_forward", &gru_nr_forward);
  m.def("gru_nr_backward", &gru_nr_backward);
  m.def("rnn_forward", &rnn_forward);
  m.def("rnn_backward", &rnn_backward);
}
