// rnnkit fused inference kernels: the forward pass alone, where no gradient can flow.
//
// Included by fused.cpp after its helpers (Math, gemm, RightOperand, the row kernels), so the
// math is the training kernels' own, step for step. What differs is the memory traffic:
//
// - The training forward gets the input projections of ALL steps from the caller, (T, B, G*H)
//   floats (52 MB for an LSTM at B64 H256 T200), and saves every state and gate activation
//   (another (T, B, G*H) and more). Each of those buffers is a fresh allocation far above
//   glibc's mmap threshold (32 MB at most), so every call pays a page fault per 4 KiB page
//   on first touch, and every byte leaves the cache. At T50 the same buffers are small enough
//   to be reused from the heap: the forward scaled worse than linearly in T.
// - Here the raw inputs x (T, B, I) come in, and the input projections are made K steps at a
//   time into one (K*B, G*H) buffer that stays in cache and is reused for every block
//   (InputBlocks): one GEMM per block, interleaved with the recurrence. Nothing is saved: the
//   states live in two (B, H) buffers each, the gate activations in one row of scratch, and
//   the only large allocation is the output (T, B, H).
//
// Every function returns the output (T, B, H) and the final state(s) (B, H). mask, dmask and
// the padded-step rule are those of the training kernels (see the top of fused.cpp).
// block_steps: K, the steps per input-projection block; 0 picks it by block_steps_for().

namespace {

// A block's pre-activation buffer is kept under this size: half of a 512 KiB L2 cache, so the
// block's rows are still in cache when the recurrence adds W_hh h_{t-1} to them. At least one
// step is always taken; a small batch gets many steps per block, so its input GEMM stays a
// matrix-matrix product (K*B rows) rather than a matrix-vector one.
constexpr int64_t kInputBlockBytes = 256 * 1024;

inline int64_t block_steps_for(int64_t requested, int64_t T, int64_t B, int64_t G, int64_t elem) {
  if (requested > 0) return std::min(requested, std::max<int64_t>(T, 1));
  return std::clamp<int64_t>(kInputBlockBytes / std::max<int64_t>(B * G * elem, 1), 1, std::max<int64_t>(T, 1));
}

// Rows x_t W_ih^T + bias (G each) of the steps of one block at a time, in forward order.
template <typename S> class InputBlocks {
 public:
  InputBlocks(const S* x, const S* w_ih, const S* bias, int64_t T, int64_t B, int64_t I, int64_t G, int64_t K)
      : x_(x), w_(w_ih), bias_(bias), T_(T), B_(B), I_(I), G_(G), K_(K), buf_(size_t(K * B * G)) {}

  // The (B, G) pre-activations of step t, writable (the recurrence adds to them in place).
  S* step(int64_t t) {
    if (t < start_ || t >= end_) fill(t - t % K_);
    return buf_.data() + (t - start_) * B_ * G_;
  }

 private:
  void fill(int64_t t0) {
    start_ = t0;
    end_ = std::min(T_, t0 + K_);
    const int64_t rows = (end_ - start_) * B_;
    if (bias_)
      for (int64_t r = 0; r < rows; ++r) std::memcpy(buf_.data() + r * G_, bias_, sizeof(S) * G_);
    // (rows, G) = x (rows, I) W_ih^T; beta 0 overwrites where there is no bias
    gemm<S>(false, true, rows, G_, I_, x_ + start_ * B_ * I_, I_, w_, I_, bias_ ? S(1) : S(0), buf_.data(), G_);
  }

  const S *x_, *w_, *bias_;
  int64_t T_, B_, I_, G_, K_;
  std::vector<S> buf_;
  int64_t start_ = 0, end_ = 0;
};

// Two (B, H) buffers for a state: the previous step's and the next one's, swapped every step.
struct PingPong {
  Tensor a, b;
  PingPong(const Tensor& init) : a(init.contiguous().clone()), b(at::empty_like(a)) {}
  void swap() { std::swap(a, b); }
};

inline void check_raw_inputs(const Tensor& x, const Tensor& w_ih, int64_t G) {
  TORCH_CHECK(x.dim() == 3 && x.is_contiguous(), "inference kernels take contiguous (T, B, I) inputs");
  TORCH_CHECK(w_ih.size(0) == G && w_ih.size(1) == x.size(2), "w_ih must be (G*H, I)");
}

}  // namespace

// ============================================================================ LSTM (stock and layer norm)
// Stock: a_t = x_t W_ih^T + b_ih + b_hh + W_hh h_{t-1}. With ln_ih given (non-empty), the
// layer-normalized cell of lstm_ln_forward: a_t = gamma_ih LN(W_ih x_t) + b_ih + b_hh +
// gamma_hh LN(W_hh h_{t-1}), h_t = o tanh(gamma_c LN(c_t) + beta_c). Returns out, h_T, c_T.
std::vector<Tensor> lstm_infer(const Tensor& x, const Tensor& h0, const Tensor& c0, const Tensor& w_ih,
                               const Tensor& w_hh, const Tensor& b_ih, const Tensor& b_hh, const Tensor& ln_ih,
                               const Tensor& ln_hh, const Tensor& lnc_g, const Tensor& lnc_b, const Tensor& mask,
                               const Tensor& dmask, double eps, int64_t block_steps) {
  const int64_t T = x.size(0), B = x.size(1), I = x.size(2), H = h0.size(1), G = 4 * H;
  check_raw_inputs(x, w_ih, G);
  const bool ln = present(ln_ih);
  Tensor out = at::empty({T, B, H}, x.options());
  PingPong h(h0), c(c0);
  const bool* mp = mask_ptr(mask);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lstm_infer", [&] {
    using S = scalar_t;
    const std::vector<S> bias = summed_bias<S>(b_ih, b_hh, G);
    const int64_t K = block_steps_for(block_steps, T, B, G, sizeof(S));
    // the stock cell's biases go into the block; the normalized cell adds them after LN
    InputBlocks<S> blocks(x.data_ptr<S>(), w_ih.data_ptr<S>(), ln ? nullptr : bias.data(), T, B, I, G, K);
    const RightOperand<S> Wt(w_hh.data_ptr<S>(), H, true, B, G, H, T);
    const S* D = ptr<S>(dmask);
    std::vector<S> hbuf(D ? B * H : 0), gates(G), rec(ln ? B * G : 0), saved(ln ? G + H + 4 : 0);
    LayerNormParams<S> p{};
    if (ln) p = {ln_ih.data_ptr<S>(), bias.data(), ln_hh.data_ptr<S>(), lnc_g.data_ptr<S>(), lnc_b.data_ptr<S>(), eps};
    S* sv = saved.data();  // what lstm_ln_row would save for a backward: scratch here
    const LayerNormSaved<S> s{sv, sv + 4, sv + 2, sv + 4 + G, sv + 3};
    S* O = out.data_ptr<S>();
    for (int64_t t = 0; t < T; ++t) {
      const S *hp = h.a.data_ptr<S>(), *cp = c.a.data_ptr<S>();
      S *hn = h.b.data_ptr<S>(), *cn = c.b.data_ptr<S>();
      S* P = blocks.step(t);  // (B, G): x_t W_ih^T (+ biases)
      const S* hin = recurrent_input(hp, D, hbuf.data(), B * H);
      if (ln) Wt.mm(hin, H, S(0), rec.data(), G);  // W_hh h_in, normalized per row below
      else Wt.mm(hin, H, S(1), P, G);
      for (int64_t b = 0; b < B; ++b) {
        if (ln) lstm_ln_row<S>(P + b * G, rec.data() + b * G, cp + b * H, p, H, gates.data(), cn + b * H, hn + b * H, s);
        else lstm_row<S>(P + b * G, cp + b * H, gates.data(), cn + b * H, hn + b * H, H);
        carry_if_padded(mp ? mp[t * B + b] : true, O + (t * B + b) * H, hn + b * H, hp + b * H, cn + b * H, cp + b * H, H);
      }
      h.swap();
      c.swap();
    }
  });
  return {out, h.a, c.a};
}

// ============================================================================ GRU (both forms)
// reset_after: r, z = s(x W_ih^T + b_ih + hh), n = tanh(x_n + r * hh_n), hh = W_hh h_{t-1} + b_hh.
// Original form: b_hh folded into the input rows, n = tanh(x_n + W_n (r * h_{t-1})).
// h_t = (1 - z) n + z h_{t-1}. Returns out, h_T.
std::vector<Tensor> gru_infer(const Tensor& x, const Tensor& h0, const Tensor& w_ih, const Tensor& w_hh,
                              const Tensor& b_ih, const Tensor& b_hh, bool reset_after, const Tensor& mask,
                              const Tensor& dmask, int64_t block_steps) {
  const int64_t T = x.size(0), B = x.size(1), I = x.size(2), H = h0.size(1), G = 3 * H;
  check_raw_inputs(x, w_ih, G);
  Tensor out = at::empty({T, B, H}, x.options());
  PingPong h(h0);
  const bool* mp = mask_ptr(mask);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "gru_infer", [&] {
    using S = scalar_t;
    // reset_after keeps b_hh inside hh (it is multiplied by r); the original form folds it in
    const std::vector<S> bias = summed_bias<S>(b_ih, reset_after ? Tensor() : b_hh, G);
    const S* BH = reset_after ? ptr<S>(b_hh) : nullptr;
    const int64_t K = block_steps_for(block_steps, T, B, G, sizeof(S));
    InputBlocks<S> blocks(x.data_ptr<S>(), w_ih.data_ptr<S>(), bias.data(), T, B, I, G, K);
    const S* W = w_hh.data_ptr<S>();
    const RightOperand<S> Wall(W, H, true, B, G, H, reset_after ? T : 0);
    const RightOperand<S> Wrz(W, H, true, B, 2 * H, H, reset_after ? 0 : T), Wn(W + 2 * H * H, H, true, B, H, H, reset_after ? 0 : T);
    const S* D = ptr<S>(dmask);
    std::vector<S> hbuf(D ? B * H : 0), hh(reset_after ? B * G : 0), rh(reset_after ? 0 : B * H), zs(reset_after ? 0 : B * H);
    S* O = out.data_ptr<S>();
    for (int64_t t = 0; t < T; ++t) {
      const S* hp = h.a.data_ptr<S>();
      S* hn = h.b.data_ptr<S>();
      S* P = blocks.step(t);  // (B, G)
      const S* hin = recurrent_input(hp, D, hbuf.data(), B * H);
      if (reset_after) {
        for (int64_t b = 0; b < B; ++b) {
          if (BH) std::memcpy(hh.data() + b * G, BH, sizeof(S) * G); else std::memset(hh.data() + b * G, 0, sizeof(S) * G);
        }
        Wall.mm(hin, H, S(1), hh.data(), G);
        for (int64_t b = 0; b < B; ++b) gru_row_infer(P + b * G, hh.data() + b * G, hp + b * H, hn + b * H, H);
      } else {
        Wrz.mm(hin, H, S(1), P, G);  // P[:, :2H] += h_in W_rz^T
        for (int64_t b = 0; b < B; ++b) {
          const S* __restrict pr = P + b * G; const S* __restrict hr = hin + b * H;
          S* __restrict rr = rh.data() + b * H; S* __restrict zr = zs.data() + b * H;
          for (int64_t j = 0; j < H; ++j) {
            rr[j] = Math<S>::sigmoid(pr[j]) * hr[j];
            zr[j] = Math<S>::sigmoid(pr[H + j]);
          }
        }
        Wn.mm(rh.data(), H, S(1), P + 2 * H, G);  // P[:, 2H:] += (r h_in) W_n^T
        for (int64_t b = 0; b < B; ++b) {
          const S* __restrict pr = P + b * G; const S* __restrict zr = zs.data() + b * H;
          const S* __restrict hpr = hp + b * H; S* __restrict hnr = hn + b * H;
          for (int64_t j = 0; j < H; ++j) hnr[j] = (1 - zr[j]) * Math<S>::tanh(pr[2 * H + j]) + zr[j] * hpr[j];
        }
      }
      for (int64_t b = 0; b < B; ++b)
        carry_if_padded<S>(mp ? mp[t * B + b] : true, O + (t * B + b) * H, hn + b * H, hp + b * H, nullptr, nullptr, H);
      h.swap();
    }
  });
  return {out, h.a};
}
