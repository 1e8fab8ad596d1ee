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
// Batches are batch-first `(B, T, I)`. For embedded tokens, a layer can instead take the table
// E W_ih^T + b_ih `(V, G)` and the token ids `(B, T)`: each step looks its input projections up per
// token, so no `(B, T, G)` projection is computed, written or read back (the char-RNN's 16-wide
// embeddings made that GEMM memory-bound: a fifth of its training step), and the backward pass adds
// the steps' gradients into the table's rows. `lengths` (optional, sorted descending, as
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
#include <immintrin.h>
#include <omp.h>

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

// Float32 buffers reused across calls. A batch-32 char-RNN forward writes ~13 MB of fresh tensors;
// allocating them anew costs more in page faults and kernel zeroing than the gate loops themselves
// (perf: about 40 % of the forward). A buffer is handed out again only when nothing else holds its
// storage (autograd drops the saved tensors after the backward pass), so reuse is never visible.
at::Tensor buffer(at::IntArrayRef shape, at::ScalarType dtype = at::kFloat) {
  static thread_local std::vector<at::Tensor> pool;
  constexpr size_t kMaxBuffers = 24;
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

// The hidden units split across the threads for a whole sequence. A thread owns units
// [begin(k), begin(k) + size(k)): its share of every step's recurrent GEMM (its units' gate rows
// forward, their gradient columns backward) and its units' gate loop, so a step costs one barrier
// and no core waits on a serial gate loop or on a GEMM too small to split well (at batch 32 a
// step's GEMM is ~3 MFLOP). oneDNN's RNN primitive splits the same way. Shares are multiples of 8.
struct UnitSplit {
  int64_t hidden;
  int threads;
  int64_t share;

  explicit UnitSplit(int64_t h) : hidden(h) {
    const int64_t most = std::max<int64_t>(1, h / 8);
    threads = static_cast<int>(std::min<int64_t>(std::max(1, at::get_num_threads()), most));
    share = ((h + threads - 1) / threads + 7) / 8 * 8;
    threads = static_cast<int>((h + share - 1) / share);
  }
  int64_t begin(int k) const { return k * share; }
  int64_t size(int k) const { return std::min(share, hidden - k * share); }
};

// Rows `begin .. begin + size` of each of the `gates` blocks of W (gates * hidden, K): (gates * size, K).
at::Tensor unit_rows(const at::Tensor& w, int64_t gates, int64_t hidden, int64_t begin, int64_t size) {
  std::vector<at::Tensor> blocks;
  for (int64_t g = 0; g < gates; ++g) blocks.push_back(w.narrow(0, g * hidden + begin, size));
  return at::cat(blocks, 0).contiguous();
}

// One thread's share of the recurrent weight, in float32 and (when use_bf16) bf16, with its
// scratch: the step's product in float32 and, in bf16, as oneDNN writes it.
struct Share {
  at::Tensor weight, weight_bf16, product, product_bf16;
};

// out[rows x n] (row stride ldo) = a[rows x k] (contiguous bf16) * w (k x n, any strides) + beta * out,
// through oneDNN; `scratch` holds the bf16 product.
void bf16_product(const bf16* a, int64_t rows, int64_t k, const at::Tensor& w, const at::Tensor& scratch, float beta,
                  float* out, int64_t ldo) {
  const int64_t n = w.size(1);
  auto operand = at::from_blob(const_cast<bf16*>(a), {rows, k}, scratch.options());
  auto result = scratch.narrow(0, 0, rows * n).view({rows, n});
  at::mm_out(result, operand, w);
  const bf16* from = result.data_ptr<bf16>();
  for (int64_t b = 0; b < rows; ++b) {
    float* row = out + b * ldo;
    if (beta == 0.f) {
      for (int64_t j = 0; j < n; ++j) row[j] = static_cast<float>(from[b * n + j]);
    } else {
      for (int64_t j = 0; j < n; ++j) row[j] = beta * row[j] + static_cast<float>(from[b * n + j]);
    }
  }
}

// Per-thread shares for the forward pass: each thread's gate rows of W_hh, (gates * size, H).
std::vector<Share> forward_shares(const UnitSplit& split, const at::Tensor& w_hh, int64_t gates, int64_t batch,
                                  bool use_bf16) {
  std::vector<Share> shares(split.threads);
  for (int k = 0; k < split.threads; ++k) {
    auto& s = shares[k];
    s.weight = unit_rows(w_hh, gates, split.hidden, split.begin(k), split.size(k));
    s.product = buffer({batch * gates * split.size(k)});
    if (use_bf16) {
      s.weight_bf16 = s.weight.to(at::kBFloat16).t();  // (H, gates * size), read transposed
      s.product_bf16 = buffer({batch * gates * split.size(k)}, at::kBFloat16);
    }
  }
  return shares;
}

// Per-thread shares for the backward pass: each thread's columns of W_hh, (gates * H, size).
std::vector<Share> backward_shares(const UnitSplit& split, const at::Tensor& w_hh, int64_t batch, bool use_bf16) {
  std::vector<Share> shares(split.threads);
  for (int k = 0; k < split.threads; ++k) {
    auto& s = shares[k];
    s.weight = w_hh.narrow(1, split.begin(k), split.size(k)).contiguous();
    if (use_bf16) {
      s.weight_bf16 = s.weight.to(at::kBFloat16);
      s.product_bf16 = buffer({batch * split.size(k)}, at::kBFloat16);
    }
  }
  return shares;
}

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

// Whether a layer was given a table of per-token projections and the tokens, rather than its inputs.
bool fed_tokens(const at::Tensor& tokens) { return tokens.numel() > 0; }

// The input projections W_ih x + b_ih each step's gate loop reads: row (b, t) of the window's (B, T, G)
// projection, or row tokens[b, t] of the (V, G) table of a layer fed embedded tokens.
struct Projections {
  at::Tensor values;  // (B, T, G) or (V, G)
  const float* base;
  const int64_t* tokens;  // (B, T), or null
  int64_t time, width;

  Projections(at::Tensor v, const at::Tensor& token_ids, int64_t t)
      : values(std::move(v)), base(values.data_ptr<float>()),
        tokens(token_ids.numel() ? token_ids.data_ptr<int64_t>() : nullptr), time(t), width(values.size(-1)) {}
  const float* row(int64_t b, int64_t t) const { return base + (tokens ? tokens[b * time + t] : b * time + t) * width; }
};

// A layer's input projections: the table it was given with its tokens, or one GEMM over its inputs' window.
Projections input_projections(const at::Tensor& x, const at::Tensor& tokens, const at::Tensor& w_ih,
                              const at::Tensor& b_ih, bool use_bf16) {
  if (fed_tokens(tokens)) return Projections(x, tokens, tokens.size(1));
  return Projections(project_inputs(x, w_ih, b_ih, use_bf16), tokens, x.size(1));
}

// For a layer fed tokens, the (V, G) float64 table the backward steps add their input projections'
// gradients into, at row tokens[b, t]: threads add disjoint columns, float64 as for the bias sums below.
struct TokenGradients {
  at::Tensor table;
  double* base = nullptr;
  const int64_t* tokens = nullptr;
  int64_t time = 0, width = 0;

  TokenGradients(const at::Tensor& projections, const at::Tensor& token_ids, int64_t width_) {
    if (token_ids.numel() == 0) return;
    table = at::zeros({projections.size(0), width_}, at::kDouble);
    base = table.data_ptr<double>();
    tokens = token_ids.data_ptr<int64_t>();
    time = token_ids.size(1);
    width = width_;
  }
  double* row(int64_t b, int64_t t, int64_t begin) const {
    return base ? base + tokens[b * time + t] * width + begin : nullptr;
  }
};

// Bias gradients: each step's rows summed in float32 (at most B terms), the steps in float64. One
// float32 sum over all B * T rows drifts by ~2e-5 of the result, several times PyTorch's own error.
// Threads add disjoint column ranges.
struct ColumnSums {
  std::vector<double> total;
  explicit ColumnSums(int64_t width) : total(width, 0.0) {}

  // Columns [begin, begin + size) of `rows` rows, `stride` apart.
  void add_rows(const float* first, int64_t rows, int64_t stride, int64_t begin, int64_t size) {
    constexpr int64_t kChunk = 64;
    float step[kChunk];
    for (int64_t c = begin; c < begin + size; c += kChunk) {
      const int64_t width = std::min(kChunk, begin + size - c);
      std::fill_n(step, width, 0.f);
      for (int64_t b = 0; b < rows; ++b) {
        const float* row = first + b * stride + c;
#pragma GCC ivdep
        for (int64_t j = 0; j < width; ++j) step[j] += row[j];
      }
      for (int64_t j = 0; j < width; ++j) total[c + j] += step[j];
    }
  }

  at::Tensor tensor() const {
    auto out = at::empty({static_cast<int64_t>(total.size())}, at::kFloat);
    for (size_t j = 0; j < total.size(); ++j) out.data_ptr<float>()[j] = static_cast<float>(total[j]);
    return out;
  }
};

// The states each step started from, (B, T, H): h0, then the outputs of steps 0 .. T-2.
at::Tensor previous_states(const at::Tensor& h0, const at::Tensor& y) {
  auto states = buffer({y.size(0), y.size(1), y.size(2)});
  states.select(1, 0).copy_(h0);
  states.narrow(1, 1, y.size(1) - 1).copy_(y.narrow(1, 0, y.size(1) - 1));
  return states;
}

// The bf16 copies of the states each step starts from, (T, B, H) time-major (one step's slot is
// contiguous for its GEMM), which the backward pass reuses for the recurrent weight gradient; two
// slots, used in turn, when nothing is kept for a backward pass. Empty in float32.
at::Tensor state_copies(const at::Tensor& h0, int64_t time, bool use_bf16, bool keep_for_backward) {
  if (!use_bf16) return at::empty({0}, at::kBFloat16);
  auto copies = buffer({keep_for_backward ? time : 2, h0.size(0), h0.size(1)}, at::kBFloat16);
  copies.select(0, 0).copy_(h0);
  return copies;
}

bf16* state_slot(const at::Tensor& copies, int64_t t, bool keep_for_backward) {
  return copies.data_ptr<bf16>() + (keep_for_backward ? t : t % 2) * copies.size(1) * copies.size(2);
}

// The bf16 copies of the gate gradients each backward step makes for its GEMM, (T, B, G) time-major;
// the recurrent weight gradient reuses them. Empty in float32.
at::Tensor gate_copies(int64_t batch, int64_t time, int64_t gates, bool use_bf16) {
  return use_bf16 ? buffer({time, batch, gates}, at::kBFloat16) : at::empty({0}, at::kBFloat16);
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

// `x`: the inputs (B, T, I), or, with `tokens` (B, T), the table of their projections (V, G).
void check_inputs(const at::Tensor& x, const at::Tensor& tokens, const at::Tensor& h0, const at::Tensor& w_ih,
                  const at::Tensor& w_hh, int64_t gates) {
  TORCH_CHECK(x.scalar_type() == at::kFloat && x.is_contiguous(), "x must be contiguous float32");
  if (fed_tokens(tokens)) {
    TORCH_CHECK(x.dim() == 2 && x.size(1) == gates * w_hh.size(1), "the projection table must be (V, ", gates, "H)");
    TORCH_CHECK(tokens.dim() == 2 && tokens.scalar_type() == at::kLong && tokens.is_contiguous() &&
                tokens.size(0) == h0.size(0), "tokens must be contiguous int64 (B, T)");
  } else {
    TORCH_CHECK(x.dim() == 3, "x must be (B, T, I)");
  }
  TORCH_CHECK(h0.dim() == 2 && h0.is_contiguous(), "the initial state must be contiguous (B, H)");
  TORCH_CHECK(w_ih.size(0) == gates * w_hh.size(1), "weight_ih must be (", gates, "H, I)");
  TORCH_CHECK(w_ih.is_contiguous() && w_hh.is_contiguous(), "weights must be contiguous");
}

// The forward step's GEMM for one thread: its units' pre-activations W_hh h (rows x gates * size)
// into `share.product`, from the state the step starts from: h0 at t = 0, else the outputs of step
// t - 1 (the rows running now were running then), or that state's bf16 copy.
const float* forward_product(const Share& share, bool use_bf16, int64_t rows, int64_t hidden, const float* h,
                             int64_t ldh, const bf16* h_bf16) {
  float* out = share.product.data_ptr<float>();
  const int64_t width = share.weight.size(0);
  if (use_bf16) {
    bf16_product(h_bf16, rows, hidden, share.weight_bf16, share.product_bf16, 0.f, out, width);
  } else {
    mm_nt(rows, width, hidden, h, ldh, share.weight.data_ptr<float>(), hidden, 0.f, out, width);
  }
  return out;
}

// The backward step's GEMM for one thread: dh[:rows, its units] = dG[:rows] W_hh[:, its units]
// (+ beta dh), from the step's gate gradients dG (rows x G, row stride ld) or their bf16 copy.
void backward_product(const Share& share, bool use_bf16, int64_t rows, const float* d_gates, int64_t ld,
                      const bf16* d_gates_bf16, float beta, float* dh, int64_t ldh) {
  const int64_t gates = share.weight.size(0), size = share.weight.size(1);
  if (use_bf16) {
    bf16_product(d_gates_bf16, rows, gates, share.weight_bf16, share.product_bf16, beta, dh, ldh);
  } else {
    mm_nn(rows, size, gates, d_gates, ld, share.weight.data_ptr<float>(), size, beta, dh, ldh);
  }
}

// Rows [from, batch) of one step's thread's columns (`blocks` blocks of `size` from `begin`, each
// block `hidden` wide) set to zero: the padded positions of a step, in float32 (row stride ld)...
template <typename T>
void zero_padded(T* step, int64_t from, int64_t batch, int64_t ld, int64_t blocks, int64_t hidden, int64_t begin,
                 int64_t size) {
  for (int64_t b = from; b < batch; ++b)
    for (int64_t g = 0; g < blocks; ++g) std::fill_n(step + b * ld + g * hidden + begin, size, T(0.f));
}

// `n` floats rounded to bf16 (nearest even). c10's conversion checks for NaN with a branch, which keeps a
// loop scalar; AVX512-BF16's conversion does 16 at once, NaN included.
void round_to_bf16(const float* from, bf16* to, int64_t n) {
  int64_t j = 0;
#ifdef __AVX512BF16__
  for (; j + 16 <= n; j += 16)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(to + j), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(from + j)));
#endif
  for (; j < n; ++j) to[j] = bf16(from[j]);
}

// ... and a bf16 slot's thread columns: rows [0, rows) rounded from `step` (row stride ld), the rest zero.
void round_columns(const float* step, int64_t ld, bf16* slot, int64_t rows, int64_t batch, int64_t width,
                   int64_t blocks, int64_t hidden, int64_t begin, int64_t size) {
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t g = 0; g < blocks; ++g) {
      bf16* to = slot + b * width + g * hidden + begin;
      if (b < rows) {
        round_to_bf16(step + b * ld + g * hidden + begin, to, size);
      } else {
        std::fill_n(to, size, bf16(0.f));
      }
    }
}

// A layer's outputs (B, T, H): float32, which the backward pass reads, and, when the caller wants bf16
// (the last layer under autocast, whose output feeds a bf16 projection), a bf16 copy written beside it,
// which saves the caller a conversion pass over the window.
struct Outputs {
  at::Tensor values, values_bf16;
  float* base;
  bf16* base_bf16 = nullptr;

  Outputs(int64_t batch, int64_t time, int64_t hidden, bool bf16_copy)
      : values(buffer({batch, time, hidden})), base(values.data_ptr<float>()) {
    if (!bf16_copy) return;
    values_bf16 = buffer({batch, time, hidden}, at::kBFloat16);
    base_bf16 = values_bf16.data_ptr<bf16>();
  }
  at::Tensor returned() const { return values_bf16.defined() ? values_bf16 : values; }
};

// The gradient of a layer's outputs, dy (B, T, H): float32, or bf16 when the layer returned bf16.
struct OutputGradients {
  const float* base = nullptr;
  const bf16* base_bf16 = nullptr;
  int64_t time, hidden;

  OutputGradients(const at::Tensor& dy, int64_t time_, int64_t hidden_) : time(time_), hidden(hidden_) {
    if (dy.scalar_type() == at::kBFloat16) base_bf16 = dy.data_ptr<bf16>();
    else base = dy.data_ptr<float>();
  }
  // Units [begin, begin + size) of row (b, t), in float32: a bf16 row is widened into `scratch` (size floats).
  const float* share(int64_t b, int64_t t, int64_t begin, int64_t size, float* scratch) const {
    const int64_t offset = (b * time + t) * hidden + begin;
    if (base) return base + offset;
    for (int64_t j = 0; j < size; ++j) scratch[j] = static_cast<float>(base_bf16[offset + j]);
    return scratch;
  }
};

// The forward time loop the GRU and the LSTM share. Each step, for each share of hidden units a
// thread owns: the padded outputs zeroed, the share's GEMM (from h0, the previous step's outputs,
// or their bf16 copy), then `cell(t, rows, begin, size, gh)`, the cell's gate loop over the share;
// then the next step's bf16 operand rounded from the running state h (a finished row's frozen state
// too, so that the weight gradient's GEMM reads only finite values); then one barrier.
template <typename Cell>
void run_forward(const UnitSplit& split, const std::vector<Share>& shares, const std::vector<int64_t>& active,
                 const at::Tensor& h0, const Outputs& y, const float* h_p, const at::Tensor& states, bool use_bf16,
                 bool keep_for_backward, const Cell& cell) {
  const int64_t batch = h0.size(0), hidden = h0.size(1), time = static_cast<int64_t>(active.size());
  const float* h0_p = h0.data_ptr<float>();
  float* y_p = y.base;
#pragma omp parallel num_threads(split.threads)
  {
    // Normally one share per thread; a smaller team (nested in another parallel region) takes several.
    const int first = omp_get_thread_num(), team = omp_get_num_threads();
    for (int64_t t = 0; t < time; ++t) {
      const int64_t rows = active[t];
      for (int k = first; k < split.threads; k += team) {
        const int64_t begin = split.begin(k), size = split.size(k);
        zero_padded(y_p + t * hidden, rows, batch, time * hidden, 1, hidden, begin, size);
        if (y.base_bf16) zero_padded(y.base_bf16 + t * hidden, rows, batch, time * hidden, 1, hidden, begin, size);
        if (rows > 0) {
          const float* gh = forward_product(shares[k], use_bf16, rows, hidden, t == 0 ? h0_p : y_p + (t - 1) * hidden,
                                            t == 0 ? hidden : time * hidden,
                                            use_bf16 ? state_slot(states, t, keep_for_backward) : nullptr);
          cell(t, rows, begin, size, gh);
          if (y.base_bf16) {  // a second pass over the share, in cache: the gate loop stays vectorised
            for (int64_t b = 0; b < rows; ++b) {
              const int64_t at = (b * time + t) * hidden + begin;
              round_to_bf16(y_p + at, y.base_bf16 + at, size);
            }
          }
        }
        if (use_bf16 && t + 1 < time)
          round_columns(h_p, hidden, state_slot(states, t + 1, keep_for_backward), batch, batch, hidden, 1, hidden,
                        begin, size);
      }
#pragma omp barrier
    }
  }
}

// Where the backward steps write the gradients the recurrent GEMMs read, dG (rows of G), in float32:
// the whole window (B, T, G) when the weight gradient's GEMM or the input GEMMs read it afterwards,
// else one step's rows (B, G), overwritten each step and read while still in cache (in bf16 the weight
// gradient reads the steps' bf16 copies, so a window of float32 gradients would only cost memory traffic).
struct GateGradients {
  at::Tensor values;
  float* base;
  int64_t step_stride, row_stride;

  GateGradients(int64_t batch, int64_t time, int64_t width, bool whole_window)
      : values(buffer({batch, whole_window ? time : 1, width})), base(values.data_ptr<float>()),
        step_stride(whole_window ? width : 0), row_stride((whole_window ? time : 1) * width) {}
  float* step(int64_t t) const { return base + t * step_stride; }  // row b at step(t) + b * row_stride
};

// The backward time loop the GRU and the LSTM share. Each step, for each share: `cell(t, rows, begin,
// size)`, the cell's gate loop (its gate gradients, padded rows zeroed, bias sums), and, in bf16, the
// share's columns of the gradients the recurrent GEMM reads (`d_gates`) rounded into their time-major
// slot; one barrier (every unit's gate gradients of the step are written); then each share's units of
// dh take the path through W_hh (dh = beta dh + dG W_hh). The next step's gate loop reads only its
// own units of dh, and in bf16 the GEMMs read the slot rather than `d_gates`, so no second barrier is
// needed even where `d_gates` holds one step.
template <typename Cell>
void run_backward(const UnitSplit& split, const std::vector<Share>& shares, const std::vector<int64_t>& active,
                  int64_t batch, const GateGradients& d_gates, const at::Tensor& d_gates_bf16, float beta,
                  float* dh_p, bool use_bf16, const Cell& cell) {
  const int64_t hidden = split.hidden, time = static_cast<int64_t>(active.size());
  const int64_t width = shares[0].weight.size(0), ld = d_gates.row_stride;  // G, and one step's row stride
#pragma omp parallel num_threads(split.threads)
  {
    const int first = omp_get_thread_num(), team = omp_get_num_threads();
    for (int64_t t = time - 1; t >= 0; --t) {
      const int64_t rows = active[t];
      const float* dg_t = d_gates.step(t);
      bf16* slot = use_bf16 ? d_gates_bf16.data_ptr<bf16>() + t * batch * width : nullptr;
      for (int k = first; k < split.threads; k += team) {
        const int64_t begin = split.begin(k), size = split.size(k);
        cell(t, rows, begin, size);
        if (use_bf16) round_columns(dg_t, ld, slot, rows, batch, width, width / hidden, hidden, begin, size);
      }
#pragma omp barrier
      if (rows > 0) {
        for (int k = first; k < split.threads; k += team)
          backward_product(shares[k], use_bf16, rows, dg_t, ld, slot, beta, dh_p + split.begin(k), hidden);
      }
    }
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// GRU
// ---------------------------------------------------------------------------------------------

// `x`: (B, T, I), or with `tokens` (B, T) the table E W_ih^T + b_ih (V, 3H).
// Returns (y (B, T, H), h_n (B, H), saved (B, T, 4H): r | z | n | W_hn h + b_hn per step,
// states (T, B, H): the bf16 copies of the states each step started from, empty in float32).
std::vector<at::Tensor> gru_forward(const at::Tensor& x, const at::Tensor& tokens, const at::Tensor& h0,
                                    const at::Tensor& w_ih, const at::Tensor& w_hh, const at::Tensor& b_ih,
                                    const at::Tensor& b_hh, const at::Tensor& lengths, bool use_bf16,
                                    bool keep_for_backward, bool bf16_output) {
  check_inputs(x, tokens, h0, w_ih, w_hh, 3);
  const int64_t batch = h0.size(0), time = fed_tokens(tokens) ? tokens.size(1) : x.size(1), hidden = w_hh.size(1);
  const auto active = active_rows(lengths, batch, time);
  const UnitSplit split(hidden);

  const auto gi = input_projections(x, tokens, w_ih, b_ih, use_bf16);  // rows of 3H
  const Outputs y(batch, time, hidden, bf16_output);         // zero past each row's length (below)
  auto h = h0.clone();                                      // (B, H): the running state
  auto saved = buffer({batch, keep_for_backward ? time : 1, 4 * hidden});
  auto states = state_copies(h0, time, use_bf16, keep_for_backward);
  const auto shares = forward_shares(split, w_hh, 3, batch, use_bf16);

  const float* bh = b_hh.data_ptr<float>();
  float* y_p = y.base;
  float* h_p = h.data_ptr<float>();
  float* s_p = saved.data_ptr<float>();
  const int64_t saved_t = keep_for_backward ? time : 1;

  run_forward(split, shares, active, h0, y, h_p, states, use_bf16, keep_for_backward,
              [&](int64_t t, int64_t rows, int64_t begin, int64_t size, const float* gh) {
    for (int64_t b = 0; b < rows; ++b) {
      const float* gi_r = gi.row(b, t) + begin;
      const float* gh_r = gh + b * 3 * size;  // r | z | n of this thread's units
      const float* bh_r = bh + begin;
      float* h_r = h_p + b * hidden + begin;
      float* y_r = y_p + (b * time + t) * hidden + begin;
      float* s_r = s_p + (b * saved_t + (keep_for_backward ? t : 0)) * 4 * hidden + begin;
#pragma GCC ivdep
      for (int64_t j = 0; j < size; ++j) {
        const float r = sigmoid(gi_r[j] + gh_r[j] + bh_r[j]);
        const float z = sigmoid(gi_r[hidden + j] + gh_r[size + j] + bh_r[hidden + j]);
        const float ghn = gh_r[2 * size + j] + bh_r[2 * hidden + j];
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
  return {y.returned(), h, saved, states, y.values};
}

// Returns (dx, dh0, dw_ih, dw_hh, db_ih, db_hh); fed tokens, dx is the table's gradient (V, 3H) and
// dw_ih, db_ih are undefined (they reach W_ih and b_ih through the table).
std::vector<at::Tensor> gru_backward(const at::Tensor& dy, const at::Tensor& dh_n, const at::Tensor& x,
                                     const at::Tensor& tokens, const at::Tensor& h0, const at::Tensor& w_ih,
                                     const at::Tensor& w_hh, const at::Tensor& y, const at::Tensor& saved,
                                     const at::Tensor& states, const at::Tensor& lengths, bool use_bf16) {
  const int64_t batch = h0.size(0), time = y.size(1), hidden = w_hh.size(1);
  const auto active = active_rows(lengths, batch, time);
  const UnitSplit split(hidden);

  // The gradient of the input projections: per row for the window's input GEMMs, or added per token.
  const TokenGradients d_table(x, tokens, 3 * hidden);
  auto d_gi = fed_tokens(tokens) ? at::Tensor() : buffer({batch, time, 3 * hidden});
  const GateGradients d_gh(batch, time, 3 * hidden, !use_bf16);  // ... and of W_hh h + b_hh
  auto d_gh_bf16 = gate_copies(batch, time, 3 * hidden, use_bf16);
  auto dh = dh_n.defined() ? dh_n.clone() : at::zeros({batch, hidden}, x.options());  // (B, H)
  const auto shares = backward_shares(split, w_hh, batch, use_bf16);
  ColumnSums db_ih(3 * hidden), db_hh(3 * hidden);

  const OutputGradients d_y(dy, time, hidden);
  const float* y_p = y.data_ptr<float>();
  const float* h0_p = h0.data_ptr<float>();
  const float* s_p = saved.data_ptr<float>();
  float* dgi_p = d_gi.defined() ? d_gi.data_ptr<float>() : nullptr;
  float* dh_p = dh.data_ptr<float>();
  const int64_t ld = time * 3 * hidden, gh_ld = d_gh.row_stride;  // row strides of one step's d_gi and d_gh

  run_backward(split, shares, active, batch, d_gh, d_gh_bf16, 1.f, dh_p, use_bf16,
               [&](int64_t t, int64_t rows, int64_t begin, int64_t size) {
    thread_local std::vector<float> widened;  // a bf16 dy row's share in float32
    widened.resize(size);
    float* dgi_t = dgi_p ? dgi_p + t * 3 * hidden : nullptr;
    float* dgh_t = d_gh.step(t);
    if (dgi_t) zero_padded(dgi_t, rows, batch, ld, 3, hidden, begin, size);
    zero_padded(dgh_t, rows, batch, gh_ld, 3, hidden, begin, size);
    for (int64_t b = 0; b < rows; ++b) {
      const int64_t bt = b * time + t;
      const float* dy_r = d_y.share(b, t, begin, size, widened.data());
      const float* h_prev = (t == 0 ? h0_p + b * hidden : y_p + (bt - 1) * hidden) + begin;
      const float* s_r = s_p + bt * 4 * hidden + begin;
      float* dgi_r = dgi_t ? dgi_t + b * ld + begin : nullptr;  // one of these two
      double* table_r = d_table.row(b, t, begin);
      float* dgh_r = dgh_t + b * gh_ld + begin;
      float* dh_r = dh_p + b * hidden + begin;
#pragma GCC ivdep
      for (int64_t j = 0; j < size; ++j) {
        const float d = dh_r[j] + dy_r[j];
        const float r = s_r[j], z = s_r[hidden + j], n = s_r[2 * hidden + j], ghn = s_r[3 * hidden + j];
        const float dn = d * (1.f - z) * (1.f - n * n);  // through tanh
        const float dz = d * (h_prev[j] - n) * z * (1.f - z);
        const float dr = dn * ghn * r * (1.f - r);
        if (dgi_r) {  // loop-invariant: gcc unswitches it
          dgi_r[j] = dr;
          dgi_r[hidden + j] = dz;
          dgi_r[2 * hidden + j] = dn;
        } else {
          table_r[j] += dr;
          table_r[hidden + j] += dz;
          table_r[2 * hidden + j] += dn;
        }
        dgh_r[j] = dr;
        dgh_r[hidden + j] = dz;
        dgh_r[2 * hidden + j] = dn * r;
        dh_r[j] = d * z;  // the direct path; the GEMM below adds the path through W_hh
      }
    }
    for (int64_t g = 0; g < 3; ++g) {
      if (dgi_t) db_ih.add_rows(dgi_t, rows, ld, g * hidden + begin, size);
      db_hh.add_rows(dgh_t, rows, gh_ld, g * hidden + begin, size);
    }
  });

  auto dw_hh = recurrent_weight_gradient(d_gh.values, d_gh_bf16, h0, y, states, use_bf16);
  if (fed_tokens(tokens)) return {d_table.table.to(at::kFloat), dh, at::Tensor(), dw_hh, at::Tensor(), db_hh.tensor()};
  auto [dx, dw_ih] = input_gradients(d_gi, x, w_ih, use_bf16);
  return {dx, dh, dw_ih, dw_hh, db_ih.tensor(), db_hh.tensor()};
}

// ---------------------------------------------------------------------------------------------
// LSTM
// ---------------------------------------------------------------------------------------------

// `x` and `tokens` as for the GRU. Returns (y (B, T, H), h_n, c_n (B, H), saved (B, T, 5H): i | f | g | o | c
// per step, states as for the GRU).
std::vector<at::Tensor> lstm_forward(const at::Tensor& x, const at::Tensor& tokens, const at::Tensor& h0,
                                     const at::Tensor& c0, const at::Tensor& w_ih, const at::Tensor& w_hh,
                                     const at::Tensor& b_ih, const at::Tensor& b_hh, const at::Tensor& lengths,
                                     bool use_bf16, bool keep_for_backward, bool bf16_output) {
  check_inputs(x, tokens, h0, w_ih, w_hh, 4);
  const int64_t batch = h0.size(0), time = fed_tokens(tokens) ? tokens.size(1) : x.size(1), hidden = w_hh.size(1);
  const auto active = active_rows(lengths, batch, time);
  const UnitSplit split(hidden);

  const auto gi = input_projections(x, tokens, w_ih, b_ih, use_bf16);  // rows of 4H
  const Outputs y(batch, time, hidden, bf16_output);
  auto h = h0.clone();
  auto c = c0.clone();
  auto saved = buffer({batch, keep_for_backward ? time : 1, 5 * hidden});
  auto states = state_copies(h0, time, use_bf16, keep_for_backward);
  const auto shares = forward_shares(split, w_hh, 4, batch, use_bf16);

  const float* bh = b_hh.data_ptr<float>();
  float* y_p = y.base;
  float* h_p = h.data_ptr<float>();
  float* c_p = c.data_ptr<float>();
  float* s_p = saved.data_ptr<float>();
  const int64_t saved_t = keep_for_backward ? time : 1;

  run_forward(split, shares, active, h0, y, h_p, states, use_bf16, keep_for_backward,
              [&](int64_t t, int64_t rows, int64_t begin, int64_t size, const float* gh) {
    for (int64_t b = 0; b < rows; ++b) {
      const float* gi_r = gi.row(b, t) + begin;
      const float* gh_r = gh + b * 4 * size;  // i | f | g | o of this thread's units
      const float* bh_r = bh + begin;
      float* h_r = h_p + b * hidden + begin;
      float* c_r = c_p + b * hidden + begin;
      float* y_r = y_p + (b * time + t) * hidden + begin;
      float* s_r = s_p + (b * saved_t + (keep_for_backward ? t : 0)) * 5 * hidden + begin;
#pragma GCC ivdep
      for (int64_t j = 0; j < size; ++j) {
        const float i = sigmoid(gi_r[j] + gh_r[j] + bh_r[j]);
        const float f = sigmoid(gi_r[hidden + j] + gh_r[size + j] + bh_r[hidden + j]);
        const float g = std::tanh(gi_r[2 * hidden + j] + gh_r[2 * size + j] + bh_r[2 * hidden + j]);
        const float o = sigmoid(gi_r[3 * hidden + j] + gh_r[3 * size + j] + bh_r[3 * hidden + j]);
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
  return {y.returned(), h, c, saved, states, y.values};
}

// Returns (dx, dh0, dc0, dw_ih, dw_hh, db) — the two biases share one gradient; fed tokens, dx is the
// table's gradient (V, 4H) and dw_ih is undefined (db is still b_hh's).
std::vector<at::Tensor> lstm_backward(const at::Tensor& dy, const at::Tensor& dh_n, const at::Tensor& dc_n,
                                      const at::Tensor& x, const at::Tensor& tokens, const at::Tensor& h0,
                                      const at::Tensor& c0, const at::Tensor& w_ih, const at::Tensor& w_hh,
                                      const at::Tensor& y, const at::Tensor& saved, const at::Tensor& states,
                                      const at::Tensor& lengths, bool use_bf16) {
  const int64_t batch = h0.size(0), time = y.size(1), hidden = w_hh.size(1);
  const auto active = active_rows(lengths, batch, time);
  const UnitSplit split(hidden);

  // The pre-activation gradients: the window's for the input GEMMs (or float32's weight gradient), else a step's.
  const GateGradients d_gates(batch, time, 4 * hidden, !use_bf16 || !fed_tokens(tokens));
  const TokenGradients d_table(x, tokens, 4 * hidden);  // fed tokens, the same added per token
  auto d_gates_bf16 = gate_copies(batch, time, 4 * hidden, use_bf16);
  auto dh = dh_n.defined() ? dh_n.clone() : at::zeros({batch, hidden}, x.options());
  auto dc = dc_n.defined() ? dc_n.clone() : at::zeros({batch, hidden}, x.options());
  const auto shares = backward_shares(split, w_hh, batch, use_bf16);
  ColumnSums db(4 * hidden);

  const OutputGradients d_y(dy, time, hidden);
  const float* c0_p = c0.data_ptr<float>();
  const float* s_p = saved.data_ptr<float>();
  float* dh_p = dh.data_ptr<float>();
  float* dc_p = dc.data_ptr<float>();
  const int64_t ld = d_gates.row_stride;

  run_backward(split, shares, active, batch, d_gates, d_gates_bf16, 0.f, dh_p, use_bf16,
               [&](int64_t t, int64_t rows, int64_t begin, int64_t size) {
    thread_local std::vector<float> widened;  // a bf16 dy row's share in float32
    widened.resize(size);
    float* dg_t = d_gates.step(t);
    zero_padded(dg_t, rows, batch, ld, 4, hidden, begin, size);
    for (int64_t b = 0; b < rows; ++b) {
      const int64_t bt = b * time + t;
      const float* dy_r = d_y.share(b, t, begin, size, widened.data());
      const float* s_r = s_p + bt * 5 * hidden + begin;
      const float* c_prev = (t == 0 ? c0_p + b * hidden : s_p + (bt - 1) * 5 * hidden + 4 * hidden) + begin;
      float* dg_r = dg_t + b * ld + begin;
      double* table_r = d_table.row(b, t, begin);
      float* dh_r = dh_p + b * hidden + begin;
      float* dc_r = dc_p + b * hidden + begin;
#pragma GCC ivdep
      for (int64_t j = 0; j < size; ++j) {
        const float d = dh_r[j] + dy_r[j];
        const float i = s_r[j], f = s_r[hidden + j], g = s_r[2 * hidden + j], o = s_r[3 * hidden + j];
        const float tc = std::tanh(s_r[4 * hidden + j]);
        const float dcell = dc_r[j] + d * o * (1.f - tc * tc);
        dg_r[j] = dcell * g * i * (1.f - i);
        dg_r[hidden + j] = dcell * c_prev[j] * f * (1.f - f);
        dg_r[2 * hidden + j] = dcell * i * (1.f - g * g);
        dg_r[3 * hidden + j] = d * tc * o * (1.f - o);
        dc_r[j] = dcell * f;
        if (table_r) {  // loop-invariant: gcc unswitches it
          for (int64_t g = 0; g < 4; ++g) table_r[g * hidden + j] += dg_r[g * hidden + j];
        }
      }
    }
    for (int64_t g = 0; g < 4; ++g) db.add_rows(dg_t, rows, ld, g * hidden + begin, size);
  });

  auto dw_hh = recurrent_weight_gradient(d_gates.values, d_gates_bf16, h0, y, states, use_bf16);
  if (fed_tokens(tokens)) return {d_table.table.to(at::kFloat), dh, dc, at::Tensor(), dw_hh, db.tensor()};
  auto [dx, dw_ih] = input_gradients(d_gates.values, x, w_ih, use_bf16);
  return {dx, dh, dc, dw_ih, dw_hh, db.tensor()};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("gru_forward", &gru_forward, "fused GRU layer, forward over a whole sequence");
  m.def("gru_backward", &gru_backward, "fused GRU layer, backward through time");
  m.def("lstm_forward", &lstm_forward, "fused LSTM layer, forward over a whole sequence");
  m.def("lstm_backward", &lstm_backward, "fused LSTM layer, backward through time");
}
