// Fused GRU and LSTM layers for CPU: one call runs a whole sequence, forward or backward.
//
// Why: `nn.GRU` on CPU runs ~40 small ops (and their autograd nodes) per time step, and the
// per-step matmuls are too small to fill the cores (docs/performance.md). Here, as in cuDNN and
// oneDNN's LBR-GRU:
//   - the input projections of all time steps are one GEMM before the loop;
//   - each step is one recurrent GEMM plus one fused, vectorised gate loop that writes nothing
//     but the state, the output and the values the backward pass needs;
//   - the backward pass runs back through time with one GEMM + one gate loop per step, and the
//     weight gradients are single GEMMs over the whole window afterwards.
//
// Layout and semantics are PyTorch's (`nn.GRU` / `nn.LSTM`, one layer, one direction): gate
// order r|z|n (GRU) and i|f|g|o (LSTM), `n = tanh(W_in x + b_in + r * (W_hn h + b_hn))`.
// Batches are batch-first `(B, T, I)`. `lengths` (optional, sorted descending, as
// `pack_padded_sequence` requires) freezes each row's state after its length and leaves its
// outputs zero there: only the rows still running enter each step's GEMM, so padding costs nothing.
//
// bf16: the GEMM operands are bfloat16 with float32 accumulation; the state, the gates, the bias
// gradients and every value the gate loops compute stay float32 (what autocast does, minus its bf16
// rounding of the state). The GEMMs go through oneDNN (ATen's bf16 `mm`): MKL's bf16 GEMM is no
// faster than its float32 one on AMD CPUs. The bf16 copies each step makes for its GEMM are kept
// in time-major window buffers, so the recurrent weight gradient needs no conversion afterwards.
#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <algorithm>
#include <cstdint>
#include <vector>

// The BLAS that libtorch_cpu links (MKL) exports this; ATen's own cpublas::gemm is not exported.
// A float32 step's GEMM is ~100 us: called on raw pointers, it skips the dispatcher's overhead.
extern "C" {
void sgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k, const float* alpha,
            const float* a, const int* lda, const float* b, const int* ldb, const float* beta, float* c,
            const int* ldc);
}

namespace {

using bf16 = c10::BFloat16;

inline float sigmoid(float x) { return 1.f / (1.f + std::exp(-x)); }

// Column-major BLAS call, float32.
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
          int64_t ldb, float beta, float* c, int64_t ldc) {
  const char ta = trans_a ? 'T' : 'N', tb = trans_b ? 'T' : 'N';
  const int im = m, in = n, ik = k, ilda = lda, ildb = ldb, ildc = ldc;
  const float one = 1.f;
  sgemm_(&ta, &tb, &im, &in, &ik, &one, a, &ilda, b, &ildb, &beta, c, &ildc);
}

// Row-major C[m x n] = A[m x k] * B[n x k]^T + beta * C (BLAS is column-major: C^T = B A^T).
void mm_nt(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
           float beta, float* c, int64_t ldc) {
  gemm(true, false, n, m, k, b, ldb, a, lda, beta, c, ldc);
}

// Row-major C[m x n] = A[m x k] * B[k x n] + beta * C.
void mm_nn(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
           float beta, float* c, int64_t ldc) {
  gemm(false, false, n, m, k, b, ldb, a, lda, beta, c, ldc);
}

// Rows still running at each step: lengths sorted descending, so they are a prefix of the batch.
std::vector<int64_t> active_rows(const at::Tensor& lengths, int64_t batch, int64_t time) {
  std::vector<int64_t> active(time, batch);
  if (!lengths.defined() || lengths.numel() == 0) return active;
  auto len = lengths.accessor<int64_t, 1>();
  int64_t rows = batch;
  for (int64_t t = 0; t < time; ++t) {
    while (rows > 0 && len[rows - 1] <= t) --rows;
    active[t] = rows;
  }
  return active;
}

// Run `body(begin, end)` over rows, in parallel only when there is enough work to pay for it.
template <typename F>
void for_rows(int64_t rows, int64_t width, const F& body) {
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, width));
  at::parallel_for(0, rows, grain, body);
}

// dst[rows x width] (contiguous bf16) = src's rows rounded; rows up to `zero_to` are zeroed.
void round_rows(const float* src, int64_t ld_src, bf16* dst, int64_t rows, int64_t width, int64_t zero_to = 0) {
  for_rows(rows, width, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b)
      for (int64_t j = 0; j < width; ++j) dst[b * width + j] = bf16(src[b * ld_src + j]);
  });
  if (zero_to > rows) std::fill(dst + rows * width, dst + zero_to * width, bf16(0.f));
}

// out[rows x width] (row stride ldo) = src (contiguous bf16) widened to float32, plus beta * out.
void widen_rows(const bf16* src, float beta, float* out, int64_t ldo, int64_t rows, int64_t width) {
  for_rows(rows, width, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      float* row = out + b * ldo;
      const bf16* from = src + b * width;
      if (beta == 0.f) {
        for (int64_t j = 0; j < width; ++j) row[j] = static_cast<float>(from[j]);
      } else {
        for (int64_t j = 0; j < width; ++j) row[j] = beta * row[j] + static_cast<float>(from[j]);
      }
    }
  });
}

// Float32 buffers reused across calls. A batch-32 char-RNN forward writes ~13 MB of fresh tensors;
// allocating them anew costs more in page faults and kernel zeroing than the gate loops themselves
// (perf: about 40 % of the forward). A buffer is handed out again only when nothing else holds its
// storage (autograd drops the saved tensors after the backward pass), so reuse is never visible.
at::Tensor buffer(at::IntArrayRef shape, at::ScalarType dtype = at::kFloat) {
  static thread_local std::vector<at::Tensor> pool;
  constexpr size_t kMaxBuffers = 16;
  int64_t numel = 1;
  for (auto size : shape) numel *= size;
  at::Tensor* spare = nullptr;
  for (auto& flat : pool) {
    if (flat.scalar_type() != dtype) continue;
    if (flat.use_count() != 1 || flat.storage().use_count() != 1) continue;  // still in use
    if (flat.numel() >= numel) return flat.narrow(0, 0, numel).view(shape);
    spare = &flat;
  }
  auto fresh = at::empty({std::max<int64_t>(numel, 1)}, dtype);
  if (spare != nullptr) *spare = fresh;                     // grow a free buffer that was too small
  else if (pool.size() < kMaxBuffers) pool.push_back(fresh);  // else the call runs unpooled
  return fresh.narrow(0, 0, numel).view(shape);
}

// The recurrent GEMM of one step, in float32 or with bfloat16 operands. In bf16 the caller rounds
// the step's operand into a slot of a window buffer (which the weight gradient reuses) and the
// bf16 product is widened back to float32 for the gate loop.
struct RecurrentGemm {
  bool use_bf16;
  at::Tensor weight;       // (n, k) float32, contiguous
  at::Tensor weight_bf16;  // the same in bfloat16, when use_bf16
  at::Tensor product;      // (B, max(n, k)) bf16 scratch for the step's product

  RecurrentGemm(const at::Tensor& w, int64_t batch, bool bf) : use_bf16(bf), weight(w) {
    if (use_bf16) {
      weight_bf16 = w.to(at::kBFloat16).contiguous();
      product = at::empty({batch * std::max(w.size(0), w.size(1))}, w.options().dtype(at::kBFloat16));
    }
  }

  // out[rows x n] = h[rows x k] * W^T: h in float32 (row stride ldh), or its rounded copy `h_bf16`
  // ((rows, k), contiguous) in bf16.
  void times_transposed(int64_t rows, const float* h, int64_t ldh, const bf16* h_bf16, float* out, int64_t ldo) {
    const int64_t n = weight.size(0), k = weight.size(1);
    if (!use_bf16) return mm_nt(rows, n, k, h, ldh, weight.data_ptr<float>(), k, 0.f, out, ldo);
    bf16_product(h_bf16, rows, k, weight_bf16.t(), 0.f, out, ldo);
  }

  // out[rows x k] = g[rows x n] (row stride ldg) * W + beta * out; in bf16 from g's copy `g_bf16`.
  void times(int64_t rows, const float* g, int64_t ldg, const bf16* g_bf16, float beta, float* out, int64_t ldo) {
    const int64_t n = weight.size(0), k = weight.size(1);
    if (!use_bf16) return mm_nn(rows, k, n, g, ldg, weight.data_ptr<float>(), k, beta, out, ldo);
    bf16_product(g_bf16, rows, n, weight_bf16, beta, out, ldo);
  }

 private:
  void bf16_product(const bf16* a, int64_t rows, int64_t width, const at::Tensor& w, float beta, float* out,
                    int64_t ldo) {
    auto operand = at::from_blob(const_cast<bf16*>(a), {rows, width}, weight_bf16.options());
    auto result = product.narrow(0, 0, rows * w.size(1)).view({rows, w.size(1)});
    at::mm_out(result, operand, w);
    widen_rows(result.data_ptr<bf16>(), beta, out, ldo, rows, w.size(1));
  }
};

// bf16 pays for its conversions only when every side of the product is wide: the char-RNN's
// 16-wide embeddings make its input-side GEMMs memory-bound, and faster in float32.
bool worth_bf16(const at::Tensor& a, const at::Tensor& b) {
  return std::min({a.size(0), a.size(1), b.size(1)}) >= 64;
}

// A whole-matrix product in float32, or through bfloat16 operands (the result back in float32).
at::Tensor matmul(const at::Tensor& a, const at::Tensor& b, bool use_bf16) {
  if (!use_bf16 || !worth_bf16(a, b)) {
    auto out = buffer({a.size(0), b.size(1)});
    return at::mm_out(out, a, b);
  }
  return at::mm(a.to(at::kBFloat16), b.to(at::kBFloat16)).to(at::kFloat);
}

// The inputs' projection for every step at once: (B, T, I) -> (B, T, G) with the input bias.
at::Tensor project_inputs(const at::Tensor& x, const at::Tensor& w_ih, const at::Tensor& b_ih, bool use_bf16) {
  const int64_t batch = x.size(0), time = x.size(1);
  auto flat = x.reshape({batch * time, x.size(2)});
  auto projected = matmul(flat, w_ih.t(), use_bf16).add_(b_ih);  // (B * T, G)
  return projected.view({batch, time, w_ih.size(0)});
}

// The states each step started from, (B, T, H): h0, then the outputs of steps 0 .. T-2.
// Bias gradients: each step's rows summed in float32 (at most B terms), the steps in float64. One
// float32 sum over all B * T rows drifts by ~2e-5 of the result, several times PyTorch's own error.
struct ColumnSums {
  std::vector<float> step;
  std::vector<double> total;
  explicit ColumnSums(int64_t width) : step(width), total(width, 0.0) {}

  void add_rows(const float* first, int64_t rows, int64_t stride) {
    const int64_t width = static_cast<int64_t>(step.size());
    std::fill(step.begin(), step.end(), 0.f);
    for (int64_t b = 0; b < rows; ++b) {
      const float* row = first + b * stride;
#pragma GCC ivdep
      for (int64_t j = 0; j < width; ++j) step[j] += row[j];
    }
    for (int64_t j = 0; j < width; ++j) total[j] += step[j];
  }

  at::Tensor tensor() const {
    auto out = at::empty({static_cast<int64_t>(total.size())}, at::kFloat);
    for (size_t j = 0; j < total.size(); ++j) out.data_ptr<float>()[j] = static_cast<float>(total[j]);
    return out;
  }
};

// Zero `rows` rows of `width` floats, `stride` apart: the padded positions a step skips.
void zero_rows(float* first, int64_t rows, int64_t stride, int64_t width) {
  for (int64_t b = 0; b < rows; ++b) std::fill_n(first + b * stride, width, 0.f);
}

at::Tensor previous_states(const at::Tensor& h0, const at::Tensor& y) {
  auto states = buffer({y.size(0), y.size(1), y.size(2)});
  states.select(1, 0).copy_(h0);
  states.narrow(1, 1, y.size(1) - 1).copy_(y.narrow(1, 0, y.size(1) - 1));
  return states;
}

// The bf16 copies of the gate gradients each backward step makes for its GEMM, (T, B, G) time-major;
// the recurrent weight gradient reuses them. Empty in float32.
at::Tensor gate_copies(int64_t batch, int64_t time, int64_t gates, bool use_bf16) {
  return use_bf16 ? buffer({time, batch, gates}, at::kBFloat16) : at::empty({0}, at::kBFloat16);
}

// Step t's gate gradients (rows x G, row stride ld) rounded into their slot, the finished rows zeroed.
const bf16* round_gates(const at::Tensor& copies, int64_t t, const float* gates, int64_t ld, int64_t rows,
                        int64_t batch) {
  if (copies.numel() == 0) return nullptr;
  const int64_t width = copies.size(2);
  bf16* slot = copies.data_ptr<bf16>() + t * batch * width;
  round_rows(gates, ld, slot, rows, width, batch);
  return slot;
}

// dx = dG W_ih and dW_ih = dG^T x over the whole window, dG (B, T, G) the input projections' gradient.
std::pair<at::Tensor, at::Tensor> input_gradients(const at::Tensor& d_gates, const at::Tensor& x,
                                                  const at::Tensor& w_ih, bool use_bf16) {
  const int64_t batch = x.size(0), time = x.size(1);
  auto flat = d_gates.view({batch * time, d_gates.size(2)});
  auto flat_x = x.reshape({batch * time, x.size(2)});
  if (use_bf16 && worth_bf16(flat, w_ih)) flat = flat.to(at::kBFloat16);  // rounded once for both products
  auto dx = matmul(flat, w_ih, use_bf16).view({batch, time, x.size(2)});
  return {dx, matmul(flat.t(), flat_x, use_bf16)};
}

// dW_hh = dG^T h_prev over the window: in bf16 from the copies the steps made (both time-major),
// in float32 from dG (B, T, G) and the states each step started from.
at::Tensor recurrent_weight_gradient(const at::Tensor& d_gates, const at::Tensor& d_gates_bf16, const at::Tensor& h0,
                                     const at::Tensor& y, const at::Tensor& states, bool use_bf16) {
  const int64_t rows = y.size(0) * y.size(1);
  if (use_bf16) {
    TORCH_CHECK(states.size(0) == y.size(1), "the forward pass kept no states for the backward pass");
    return at::mm(d_gates_bf16.view({rows, d_gates_bf16.size(2)}).t(), states.view({rows, y.size(2)}))
        .to(at::kFloat);
  }
  auto h_prev = previous_states(h0, y).reshape({rows, y.size(2)});
  return matmul(d_gates.view({rows, d_gates.size(2)}).t(), h_prev, false);
}

void check_inputs(const at::Tensor& x, const at::Tensor& h0, const at::Tensor& w_ih, const at::Tensor& w_hh,
                  int64_t gates) {
  TORCH_CHECK(x.dim() == 3 && x.scalar_type() == at::kFloat && x.is_contiguous(), "x must be contiguous float32 (B, T, I)");
  TORCH_CHECK(h0.dim() == 2 && h0.is_contiguous(), "the initial state must be contiguous (B, H)");
  TORCH_CHECK(w_ih.size(0) == gates * w_hh.size(1), "weight_ih must be (", gates, "H, I)");
  TORCH_CHECK(w_ih.is_contiguous() && w_hh.is_contiguous(), "weights must be contiguous");
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// GRU
// ---------------------------------------------------------------------------------------------

// The bf16 copies of the states each step starts from, (T, B, H) time-major (one step's slot is
// contiguous for its GEMM); one slot only when nothing is kept for the backward pass. Empty in float32.
at::Tensor state_copies(int64_t batch, int64_t time, int64_t hidden, bool use_bf16, bool keep_for_backward) {
  if (!use_bf16) return at::empty({0}, at::kBFloat16);
  return buffer({keep_for_backward ? time : 1, batch, hidden}, at::kBFloat16);
}

// Step t's GEMM operand in bf16: every row of the running state h (a finished row's frozen state
// too, so that the weight gradient's GEMM reads only finite values), rounded into its slot.
const bf16* round_state(const at::Tensor& copies, int64_t t, const float* h, int64_t batch, int64_t hidden) {
  if (copies.numel() == 0) return nullptr;
  bf16* slot = copies.data_ptr<bf16>() + (copies.size(0) == 1 ? 0 : t) * batch * hidden;
  round_rows(h, hidden, slot, batch, hidden);
  return slot;
}

// Returns (y (B, T, H), h_n (B, H), saved (B, T, 4H): r | z | n | W_hn h + b_hn per step,
// states (T, B, H): the bf16 copies of the states each step started from, empty in float32).
std::vector<at::Tensor> gru_forward(const at::Tensor& x, const at::Tensor& h0, const at::Tensor& w_ih,
                                    const at::Tensor& w_hh, const at::Tensor& b_ih, const at::Tensor& b_hh,
                                    const at::Tensor& lengths, bool use_bf16, bool keep_for_backward) {
  check_inputs(x, h0, w_ih, w_hh, 3);
  const int64_t batch = x.size(0), time = x.size(1), hidden = w_hh.size(1);
  const auto active = active_rows(lengths, batch, time);

  auto gi = project_inputs(x, w_ih, b_ih, use_bf16);        // (B, T, 3H)
  auto y = buffer({batch, time, hidden});   // zero past each row's length (below)
  auto h = h0.clone();                                      // (B, H): the running state
  auto gh = buffer({batch, 3 * hidden});    // (B, 3H): this step's W_hh h
  auto saved = buffer({batch, keep_for_backward ? time : 1, 4 * hidden});
  auto states = state_copies(batch, time, hidden, use_bf16, keep_for_backward);
  RecurrentGemm recurrent(w_hh, batch, use_bf16);

  const float* gi_p = gi.data_ptr<float>();
  const float* bh = b_hh.data_ptr<float>();
  float* y_p = y.data_ptr<float>();
  float* h_p = h.data_ptr<float>();
  float* gh_p = gh.data_ptr<float>();
  float* s_p = saved.data_ptr<float>();
  const int64_t saved_t = keep_for_backward ? time : 1;

  for (int64_t t = 0; t < time; ++t) {
    const int64_t rows = active[t];
    zero_rows(y_p + (rows * time + t) * hidden, batch - rows, time * hidden, hidden);
    const bf16* h_bf16 = round_state(states, t, h_p, batch, hidden);
    if (rows == 0) continue;
    recurrent.times_transposed(rows, h_p, hidden, h_bf16, gh_p, 3 * hidden);
    for_rows(rows, hidden, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b) {
        const float* gi_r = gi_p + (b * time + t) * 3 * hidden;
        const float* gh_r = gh_p + b * 3 * hidden;
        float* h_r = h_p + b * hidden;
        float* y_r = y_p + (b * time + t) * hidden;
        float* s_r = s_p + (b * saved_t + (keep_for_backward ? t : 0)) * 4 * hidden;
#pragma GCC ivdep
        for (int64_t j = 0; j < hidden; ++j) {
          const float r = sigmoid(gi_r[j] + gh_r[j] + bh[j]);
          const float z = sigmoid(gi_r[hidden + j] + gh_r[hidden + j] + bh[hidden + j]);
          const float ghn = gh_r[2 * hidden + j] + bh[2 * hidden + j];
          const float n = std::tanh(gi_r[2 * hidden + j] + r * ghn);
          const float h_new = (1.f - z) * n + z * h_r[j];
          h_r[j] = h_new;
          y_r[j] = h_new;
          s_r[j] = r;
          s_r[hidden + j] = z;
          s_r[2 * hidden + j] = n;
          s_r[3 * hidden + j] = ghn;
        }
      }
    });
  }
  return {y, h, saved, states};
}

// Returns (dx, dh0, dw_ih, dw_hh, db_ih, db_hh).
std::vector<at::Tensor> gru_backward(const at::Tensor& dy, const at::Tensor& dh_n, const at::Tensor& x,
                                     const at::Tensor& h0, const at::Tensor& w_ih, const at::Tensor& w_hh,
                                     const at::Tensor& y, const at::Tensor& saved, const at::Tensor& states,
                                     const at::Tensor& lengths, bool use_bf16) {
  const int64_t batch = x.size(0), time = x.size(1), hidden = w_hh.size(1);
  const auto active = active_rows(lengths, batch, time);

  auto d_gi = buffer({batch, time, 3 * hidden});  // gradient of the input projections
  auto d_gh = buffer({batch, time, 3 * hidden});  // ... and of W_hh h + b_hh
  auto d_gh_bf16 = gate_copies(batch, time, 3 * hidden, use_bf16);
  auto dh = dh_n.defined() ? dh_n.clone() : at::zeros({batch, hidden}, x.options());  // (B, H)
  RecurrentGemm recurrent(w_hh, batch, use_bf16);
  ColumnSums db_ih(3 * hidden), db_hh(3 * hidden);

  const float* dy_p = dy.defined() ? dy.data_ptr<float>() : nullptr;
  const float* y_p = y.data_ptr<float>();
  const float* h0_p = h0.data_ptr<float>();
  const float* s_p = saved.data_ptr<float>();
  float* dgi_p = d_gi.data_ptr<float>();
  float* dgh_p = d_gh.data_ptr<float>();
  float* dh_p = dh.data_ptr<float>();

  for (int64_t t = time - 1; t >= 0; --t) {
    const int64_t rows = active[t];
    zero_rows(dgi_p + (rows * time + t) * 3 * hidden, batch - rows, time * 3 * hidden, 3 * hidden);
    zero_rows(dgh_p + (rows * time + t) * 3 * hidden, batch - rows, time * 3 * hidden, 3 * hidden);
    if (rows == 0) {  // in bf16 the step's slot still needs its zeros
      round_gates(d_gh_bf16, t, nullptr, 0, 0, batch);
      continue;
    }
    for_rows(rows, hidden, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b) {
        const int64_t bt = b * time + t;
        const float* dy_r = dy_p ? dy_p + bt * hidden : nullptr;
        const float* h_prev = t == 0 ? h0_p + b * hidden : y_p + (bt - 1) * hidden;
        const float* s_r = s_p + bt * 4 * hidden;
        float* dgi_r = dgi_p + bt * 3 * hidden;
        float* dgh_r = dgh_p + bt * 3 * hidden;
        float* dh_r = dh_p + b * hidden;
#pragma GCC ivdep
        for (int64_t j = 0; j < hidden; ++j) {
          const float d = dh_r[j] + (dy_r ? dy_r[j] : 0.f);
          const float r = s_r[j], z = s_r[hidden + j], n = s_r[2 * hidden + j], ghn = s_r[3 * hidden + j];
          const float dn = d * (1.f - z) * (1.f - n * n);  // through tanh
          const float dz = d * (h_prev[j] - n) * z * (1.f - z);
          const float dr = dn * ghn * r * (1.f - r);
          dgi_r[j] = dr;
          dgi_r[hidden + j] = dz;
          dgi_r[2 * hidden + j] = dn;
          dgh_r[j] = dr;
          dgh_r[hidden + j] = dz;
          dgh_r[2 * hidden + j] = dn * r;
          dh_r[j] = d * z;  // the direct path; the GEMM below adds the path through W_hh
        }
      }
    });
    const bf16* dgh_bf16 = round_gates(d_gh_bf16, t, dgh_p + t * 3 * hidden, time * 3 * hidden, rows, batch);
    recurrent.times(rows, dgh_p + t * 3 * hidden, time * 3 * hidden, dgh_bf16, 1.f, dh_p, hidden);
    db_ih.add_rows(dgi_p + t * 3 * hidden, rows, time * 3 * hidden);
    db_hh.add_rows(dgh_p + t * 3 * hidden, rows, time * 3 * hidden);
  }

  auto [dx, dw_ih] = input_gradients(d_gi, x, w_ih, use_bf16);
  auto dw_hh = recurrent_weight_gradient(d_gh, d_gh_bf16, h0, y, states, use_bf16);
  return {dx, dh, dw_ih, dw_hh, db_ih.tensor(), db_hh.tensor()};
}

// ---------------------------------------------------------------------------------------------
// LSTM
// ---------------------------------------------------------------------------------------------

// Returns (y (B, T, H), h_n, c_n (B, H), saved (B, T, 5H): i | f | g | o | c per step, states as for the GRU).
std::vector<at::Tensor> lstm_forward(const at::Tensor& x, const at::Tensor& h0, const at::Tensor& c0,
                                     const at::Tensor& w_ih, const at::Tensor& w_hh, const at::Tensor& b_ih,
                                     const at::Tensor& b_hh, const at::Tensor& lengths, bool use_bf16,
                                     bool keep_for_backward) {
  check_inputs(x, h0, w_ih, w_hh, 4);
  const int64_t batch = x.size(0), time = x.size(1), hidden = w_hh.size(1);
  const auto active = active_rows(lengths, batch, time);

  auto gi = project_inputs(x, w_ih, b_ih, use_bf16);       // (B, T, 4H)
  auto y = buffer({batch, time, hidden});
  auto h = h0.clone();
  auto c = c0.clone();
  auto gh = buffer({batch, 4 * hidden});
  auto saved = buffer({batch, keep_for_backward ? time : 1, 5 * hidden});
  auto states = state_copies(batch, time, hidden, use_bf16, keep_for_backward);
  RecurrentGemm recurrent(w_hh, batch, use_bf16);

  const float* gi_p = gi.data_ptr<float>();
  const float* bh = b_hh.data_ptr<float>();
  float* y_p = y.data_ptr<float>();
  float* h_p = h.data_ptr<float>();
  float* c_p = c.data_ptr<float>();
  float* gh_p = gh.data_ptr<float>();
  float* s_p = saved.data_ptr<float>();
  const int64_t saved_t = keep_for_backward ? time : 1;

  for (int64_t t = 0; t < time; ++t) {
    const int64_t rows = active[t];
    zero_rows(y_p + (rows * time + t) * hidden, batch - rows, time * hidden, hidden);
    const bf16* h_bf16 = round_state(states, t, h_p, batch, hidden);
    if (rows == 0) continue;
    recurrent.times_transposed(rows, h_p, hidden, h_bf16, gh_p, 4 * hidden);
    for_rows(rows, hidden, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b) {
        const float* gi_r = gi_p + (b * time + t) * 4 * hidden;
        const float* gh_r = gh_p + b * 4 * hidden;
        float* h_r = h_p + b * hidden;
        float* c_r = c_p + b * hidden;
        float* y_r = y_p + (b * time + t) * hidden;
        float* s_r = s_p + (b * saved_t + (keep_for_backward ? t : 0)) * 5 * hidden;
#pragma GCC ivdep
        for (int64_t j = 0; j < hidden; ++j) {
          const float i = sigmoid(gi_r[j] + gh_r[j] + bh[j]);
          const float f = sigmoid(gi_r[hidden + j] + gh_r[hidden + j] + bh[hidden + j]);
          const float g = std::tanh(gi_r[2 * hidden + j] + gh_r[2 * hidden + j] + bh[2 * hidden + j]);
          const float o = sigmoid(gi_r[3 * hidden + j] + gh_r[3 * hidden + j] + bh[3 * hidden + j]);
          const float c_new = f * c_r[j] + i * g;
          const float h_new = o * std::tanh(c_new);
          c_r[j] = c_new;
          h_r[j] = h_new;
          y_r[j] = h_new;
          s_r[j] = i;
          s_r[hidden + j] = f;
          s_r[2 * hidden + j] = g;
          s_r[3 * hidden + j] = o;
          s_r[4 * hidden + j] = c_new;
        }
      }
    });
  }
  return {y, h, c, saved, states};
}

// Returns (dx, dh0, dc0, dw_ih, dw_hh, db) — the two biases share one gradient.
std::vector<at::Tensor> lstm_backward(const at::Tensor& dy, const at::Tensor& dh_n, const at::Tensor& dc_n,
                                      const at::Tensor& x, const at::Tensor& h0, const at::Tensor& c0,
                                      const at::Tensor& w_ih, const at::Tensor& w_hh, const at::Tensor& y,
                                      const at::Tensor& saved, const at::Tensor& states, const at::Tensor& lengths,
                                      bool use_bf16) {
  const int64_t batch = x.size(0), time = x.size(1), hidden = w_hh.size(1);
  const auto active = active_rows(lengths, batch, time);

  auto d_gates = buffer({batch, time, 4 * hidden});  // pre-activation gradients
  auto d_gates_bf16 = gate_copies(batch, time, 4 * hidden, use_bf16);
  auto dh = dh_n.defined() ? dh_n.clone() : at::zeros({batch, hidden}, x.options());
  auto dc = dc_n.defined() ? dc_n.clone() : at::zeros({batch, hidden}, x.options());
  RecurrentGemm recurrent(w_hh, batch, use_bf16);
  ColumnSums db(4 * hidden);

  const float* dy_p = dy.defined() ? dy.data_ptr<float>() : nullptr;
  const float* c0_p = c0.data_ptr<float>();
  const float* s_p = saved.data_ptr<float>();
  float* dg_p = d_gates.data_ptr<float>();
  float* dh_p = dh.data_ptr<float>();
  float* dc_p = dc.data_ptr<float>();

  for (int64_t t = time - 1; t >= 0; --t) {
    const int64_t rows = active[t];
    zero_rows(dg_p + (rows * time + t) * 4 * hidden, batch - rows, time * 4 * hidden, 4 * hidden);
    if (rows == 0) {  // in bf16 the step's slot still needs its zeros
      round_gates(d_gates_bf16, t, nullptr, 0, 0, batch);
      continue;
    }
    for_rows(rows, hidden, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b) {
        const int64_t bt = b * time + t;
        const float* dy_r = dy_p ? dy_p + bt * hidden : nullptr;
        const float* s_r = s_p + bt * 5 * hidden;
        const float* c_prev = t == 0 ? c0_p + b * hidden : s_p + (bt - 1) * 5 * hidden + 4 * hidden;
        float* dg_r = dg_p + bt * 4 * hidden;
        float* dh_r = dh_p + b * hidden;
        float* dc_r = dc_p + b * hidden;
#pragma GCC ivdep
        for (int64_t j = 0; j < hidden; ++j) {
          const float d = dh_r[j] + (dy_r ? dy_r[j] : 0.f);
          const float i = s_r[j], f = s_r[hidden + j], g = s_r[2 * hidden + j], o = s_r[3 * hidden + j];
          const float tc = std::tanh(s_r[4 * hidden + j]);
          const float dcell = dc_r[j] + d * o * (1.f - tc * tc);
          dg_r[j] = dcell * g * i * (1.f - i);
          dg_r[hidden + j] = dcell * c_prev[j] * f * (1.f - f);
          dg_r[2 * hidden + j] = dcell * i * (1.f - g * g);
          dg_r[3 * hidden + j] = d * tc * o * (1.f - o);
          dc_r[j] = dcell * f;
        }
      }
    });
    const bf16* dg_bf16 = round_gates(d_gates_bf16, t, dg_p + t * 4 * hidden, time * 4 * hidden, rows, batch);
    recurrent.times(rows, dg_p + t * 4 * hidden, time * 4 * hidden, dg_bf16, 0.f, dh_p, hidden);
    db.add_rows(dg_p + t * 4 * hidden, rows, time * 4 * hidden);
  }

  auto [dx, dw_ih] = input_gradients(d_gates, x, w_ih, use_bf16);
  auto dw_hh = recurrent_weight_gradient(d_gates, d_gates_bf16, h0, y, states, use_bf16);
  return {dx, dh, dc, dw_ih, dw_hh, db.tensor()};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("gru_forward", &gru_forward, "fused GRU layer, forward over a whole sequence");
  m.def("gru_backward", &gru_backward, "fused GRU layer, backward through time");
  m.def("lstm_forward", &lstm_forward, "fused LSTM layer, forward over a whole sequence");
  m.def("lstm_backward", &lstm_backward, "fused LSTM layer, backward through time");
}
