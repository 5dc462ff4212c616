// What the fused layers' CPU kernels share (lstm.cc, gru.cc, rnn.cc): vectors
// and tanh, a register-blocked matmul against packed weights, the batch split
// over XLA's intra-op threads, and shape checks.
//
// Each handler runs every step of one loop (forward or backward) in one call:
// each step is one register-blocked matmul whose output tile stays in cache for
// the gate arithmetic, and the batch is split into row blocks that run on XLA's
// intra-op threads with no synchronisation at all, since the rows of a batch
// never interact. Under jax.vmap every operand has a leading member axis
// [M, ...] (independent layers, e.g. the seeds of a sweep), and all members'
// rows share the threads.

#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

// The widest float vector the target has (GCC/Clang vector extension), and a
// register tile of kMr rows x 2 vectors: 2 * kMr accumulators plus 2 for the
// weights must fit the vector registers (32 with AVX-512 and NEON, 16 with
// AVX2 and SSE).
#if defined(__AVX512F__)
constexpr int kLanes = 16;
constexpr int kMr = 8;
#elif defined(__AVX__)
constexpr int kLanes = 8;
constexpr int kMr = 6;
#elif defined(__aarch64__)
constexpr int kLanes = 4;
constexpr int kMr = 8;
#else
constexpr int kLanes = 4;
constexpr int kMr = 6;
#endif
typedef float vec __attribute__((vector_size(4 * kLanes)));
typedef float vec_unaligned __attribute__((vector_size(4 * kLanes), aligned(4)));

constexpr int kNr = 2 * kLanes;  // columns per packed panel
constexpr int kMinRowsPerThread = 16;  // below this a thread's tiles are mostly edges

// Loads and stores of one float or one vector (unaligned), so that the
// elementwise code below serves both the vector body and the tail of a row.
template <typename T> T Load(const float* p);
template <> inline float Load<float>(const float* p) { return *p; }
template <> inline vec Load<vec>(const float* p) {
  return *reinterpret_cast<const vec_unaligned*>(p);
}
inline void Store(float* p, float v) { *p = v; }
inline void Store(float* p, vec v) { *reinterpret_cast<vec_unaligned*>(p) = v; }

inline float Clamp(float x, float lim) { return std::min(std::max(x, -lim), lim); }
inline vec Clamp(vec x, float lim) {
  const vec hi = vec{} + lim, lo = -hi;
  x = x < lo ? lo : x;
  return x > hi ? hi : x;
}

// tanh as the rational approximation XLA and Eigen use (error below 4e-7), for
// one float or a vector at once.
template <typename T>
inline T Tanh(T x) {
  x = Clamp(x, 7.90531110763549805f);
  const T x2 = x * x;
  T p = x2 * -2.76076847742355e-16f + 2.00018790482477e-13f;
  p = p * x2 - 8.60467152213735e-11f;
  p = p * x2 + 5.12229709037114e-08f;
  p = p * x2 + 1.48572235717979e-05f;
  p = p * x2 + 6.37261928875436e-04f;
  p = p * x2 + 4.89352455891786e-03f;
  T q = x2 * 1.19825839466702e-06f + 1.18534705686654e-04f;
  q = q * x2 + 2.26843463243900e-03f;
  q = q * x2 + 4.89352518554385e-03f;
  return x * p / q;
}

template <typename T>
inline T Sigmoid(T x) {
  return Tanh(x * 0.5f) * 0.5f + 0.5f;
}

// W [k_dim, n_dim] as panels of kNr columns, each panel [k_dim][kNr] contiguous,
// zero past n_dim. Element (k, n) is w[k * ld + n], or w[n * ld + k] when
// `transposed` (W^T of a row-major matrix): `w` and `ld` pick a block of
// columns out of a fused gate matrix.
std::vector<float> Pack(const float* w, int64_t ld, int64_t k_dim, int64_t n_dim,
                        bool transposed) {
  const int64_t panels = (n_dim + kNr - 1) / kNr;
  std::vector<float> out(panels * k_dim * kNr, 0.0f);
  for (int64_t p = 0; p < panels; ++p) {
    float* dst = out.data() + p * k_dim * kNr;
    const int64_t cols = std::min<int64_t>(kNr, n_dim - p * kNr);
    for (int64_t k = 0; k < k_dim; ++k) {
      for (int64_t j = 0; j < cols; ++j) {
        const int64_t n = p * kNr + j;
        dst[k * kNr + j] = transposed ? w[n * ld + k] : w[k * ld + n];
      }
    }
  }
  return out;
}

// C[MR, cols] = C0 + A[MR, K] P[K, kNr] for one packed panel, cols <= kNr,
// where C0 is `init` (same row stride as C; it may be C itself) or zero: the
// 2 * MR accumulators stay in registers for the whole K loop.
template <int MR>
void Tile(int64_t k_dim, const float* a, int64_t lda, const float* panel, const float* init,
          float* c, int64_t ldc, int64_t cols) {
  alignas(64) float partial[MR][kNr];  // a panel cut short by the matrix edge
  vec acc0[MR], acc1[MR];
  for (int r = 0; r < MR; ++r) {
    const float* from = init == nullptr ? nullptr : init + r * ldc;
    if (cols < kNr) {
      std::memset(partial[r], 0, sizeof(partial[r]));
      if (from != nullptr) std::memcpy(partial[r], from, cols * sizeof(float));
      from = partial[r];
    }
    acc0[r] = from == nullptr ? vec{} : Load<vec>(from);
    acc1[r] = from == nullptr ? vec{} : Load<vec>(from + kLanes);
  }
  for (int64_t k = 0; k < k_dim; ++k) {
    const vec w0 = Load<vec>(panel + k * kNr);
    const vec w1 = Load<vec>(panel + k * kNr + kLanes);
    for (int r = 0; r < MR; ++r) {
      const float x = a[r * lda + k];
      acc0[r] += x * w0;
      acc1[r] += x * w1;
    }
  }
  for (int r = 0; r < MR; ++r) {
    float* to = cols == kNr ? c + r * ldc : partial[r];
    Store(to, acc0[r]);
    Store(to + kLanes, acc1[r]);
    if (cols < kNr) std::memcpy(c + r * ldc, partial[r], cols * sizeof(float));
  }
}

template <int MR>
void Rows(int64_t k_dim, int64_t n_dim, const float* a, int64_t lda, const float* packed,
          const float* init, float* c, int64_t ldc) {
  for (int64_t p = 0; p * kNr < n_dim; ++p) {
    Tile<MR>(k_dim, a, lda, packed + p * k_dim * kNr, init == nullptr ? nullptr : init + p * kNr,
             c + p * kNr, ldc, std::min<int64_t>(kNr, n_dim - p * kNr));
  }
}

// Rows<rows> for the 1 .. R rows left after the full tiles.
template <int R>
void LeftOver(int64_t rows, int64_t k_dim, int64_t n_dim, const float* a, int64_t lda,
              const float* packed, const float* init, float* c, int64_t ldc) {
  if constexpr (R > 0) {
    if (rows == R) return Rows<R>(k_dim, n_dim, a, lda, packed, init, c, ldc);
    LeftOver<R - 1>(rows, k_dim, n_dim, a, lda, packed, init, c, ldc);
  }
}

// C[m, n] = C0 + A[m, k] W[k, n], W packed by Pack, C0 `init` (row stride ldc)
// or zero when null. Panel by panel, each through all row tiles (kMr rows, then
// one tile for the rows left over): a panel stays in L1 while the rows pass it,
// where the other order streams every panel from L2 once per row tile.
void Gemm(int64_t m, int64_t k_dim, int64_t n_dim, const float* a, int64_t lda,
          const float* packed, const float* init, float* c, int64_t ldc) {
  for (int64_t p = 0; p * kNr < n_dim; ++p) {
    const int64_t col = p * kNr, cols = std::min<int64_t>(kNr, n_dim - col);
    const float* panel = packed + p * k_dim * kNr;
    const auto from = [&](int64_t row) { return init == nullptr ? nullptr : init + row * ldc + col; };
    int64_t i = 0;
    for (; i + kMr <= m; i += kMr) {
      Tile<kMr>(k_dim, a + i * lda, lda, panel, from(i), c + i * ldc + col, ldc, cols);
    }
    if (i < m) {
      LeftOver<kMr - 1>(m - i, k_dim, cols, a + i * lda, lda, panel, from(i), c + i * ldc + col, ldc);
    }
  }
}

// Runs work(lo, hi) over row blocks of [0, rows), one per pool thread: the
// caller takes blocks, and so do helpers scheduled on XLA's pool. A helper that
// starts after all blocks are taken returns without touching `work`, so the
// caller waits only for blocks being worked on (no deadlock when the pool is
// busy, e.g. with another device's step).
template <typename Work>
void ParallelRows(ffi::ThreadPool& pool, int64_t rows, const Work& work) {
  const int64_t threads = std::max<int64_t>(1, pool.num_threads());
  const int64_t blocks =
      std::max<int64_t>(1, std::min<int64_t>(threads, rows / kMinRowsPerThread));
  if (blocks == 1) {
    work(0, rows);
    return;
  }
  struct State {
    std::atomic<int64_t> next{0};
    std::atomic<int64_t> done{0};
  };
  auto state = std::make_shared<State>();
  auto run = [state, rows, blocks, &work] {
    for (int64_t b; (b = state->next.fetch_add(1)) < blocks;) {
      work(rows * b / blocks, rows * (b + 1) / blocks);
      state->done.fetch_add(1, std::memory_order_release);
    }
  };
  for (int64_t h = 1; h < blocks; ++h) {
    pool.Schedule([run] { run(); });
  }
  run();
  while (state->done.load(std::memory_order_acquire) < blocks) std::this_thread::yield();
}

// Whether `buffer` has exactly the dimensions `want`, after `lead` leading ones
// (the member axis of a vmapped call: one or none).
template <typename Buffer>
bool HasDims(const Buffer& buffer, const std::vector<int64_t>& lead,
             std::initializer_list<int64_t> want) {
  const auto dims = buffer.dimensions();
  if (dims.size() != lead.size() + want.size()) return false;
  return std::equal(lead.begin(), lead.end(), dims.begin()) &&
         std::equal(want.begin(), want.end(), dims.begin() + lead.size());
}

ffi::Error ShapeError(const char* handler) {
  return ffi::Error::InvalidArgument(std::string(handler) +
                                     ": operand shapes disagree (see rnn_jax/recurrent/fused/)");
}

// The members of a vmapped call are independent LSTMs with their own weights: their
// batch rows are laid end to end, members * batch rows in all, and split into row
// blocks over the threads like the rows of one batch. `work(m, lo, hi)` runs rows
// [lo, hi) of member m.
template <typename Work>
void ParallelMembers(ffi::ThreadPool& pool, int64_t members, int64_t batch, const Work& work) {
  ParallelRows(pool, members * batch, [&](int64_t lo, int64_t hi) {
    for (int64_t m = lo / batch; m * batch < hi; ++m) {
      work(m, std::max(lo, m * batch) - m * batch, std::min(hi, (m + 1) * batch) - m * batch);
    }
  });
}

// Pack(...) of each member's matrix; members lie `member_stride` floats apart.
std::vector<std::vector<float>> PackAll(const float* w, int64_t members, int64_t member_stride,
                                        int64_t ld, int64_t k_dim, int64_t n_dim,
                                        bool transposed) {
  std::vector<std::vector<float>> out;
  for (int64_t m = 0; m < members; ++m) {
    out.push_back(Pack(w + m * member_stride, ld, k_dim, n_dim, transposed));
  }
  return out;
}

// The leading dimensions of a handler's first operand [M?, T, B, G]: the member
// axis of a vmapped call (one or none), time steps, batch and last width.
struct Layout {
  std::vector<int64_t> lead;
  int64_t members = 1, t_len = 0, batch = 0, width = 0;
};

// Reads the layout of `seq` [M?, T, B, G]; false if its rank is neither 3 nor 4.
template <typename Buffer>
bool ReadLayout(const Buffer& seq, Layout& out) {
  const auto dims = seq.dimensions();
  if (dims.size() != 3 && dims.size() != 4) return false;
  out.lead.assign(dims.begin(), dims.end() - 3);
  out.members = out.lead.empty() ? 1 : out.lead[0];
  out.t_len = dims[out.lead.size()];
  out.batch = dims[out.lead.size() + 1];
  out.width = dims.back();
  return true;
}

// What every forward loop reads: xs [M?, T, B, D], wx [D, G], wh [H, G], b [G],
// h0 [B, H] and lengths [B], with G = gates * H: their sizes, and the input weights
// packed (the recurrent ones too, unless the handler packs them its own way).
struct ForwardOperands {
  Layout s;
  int64_t d = 0, hid = 0, g = 0;
  std::vector<std::vector<float>> packed_x, packed_h;
};

// Fills `in`; false if the shapes disagree.
inline bool ReadForwardOperands(int64_t gates, const ffi::Buffer<ffi::F32>& xs,
                                const ffi::Buffer<ffi::F32>& wx, const ffi::Buffer<ffi::F32>& wh,
                                const ffi::Buffer<ffi::F32>& bias,
                                const ffi::Buffer<ffi::F32>& h0,
                                const ffi::Buffer<ffi::S32>& lengths, ForwardOperands& in,
                                bool pack_recurrent = true) {
  Layout& s = in.s;
  if (!ReadLayout(xs, s) || wh.dimensions().size() < 2) return false;
  in.d = s.width;
  in.hid = wh.dimensions()[wh.dimensions().size() - 2];
  in.g = gates * in.hid;
  if (!HasDims(wx, s.lead, {in.d, in.g}) || !HasDims(wh, s.lead, {in.hid, in.g}) ||
      !HasDims(bias, s.lead, {in.g}) || !HasDims(h0, s.lead, {s.batch, in.hid}) ||
      !HasDims(lengths, s.lead, {s.batch})) {
    return false;
  }
  in.packed_x = PackAll(wx.typed_data(), s.members, in.d * in.g, in.g, in.d, in.g, false);
  if (pack_recurrent) {
    in.packed_h = PackAll(wh.typed_data(), s.members, in.hid * in.g, in.g, in.hid, in.g, false);
  }
  return true;
}

// Elementwise activations for one float or a vector at once.
inline float Relu(float x) { return x > 0.0f ? x : 0.0f; }
inline vec Relu(vec x) { return x > vec{} ? x : vec{}; }

// `value` where x > 0, else 0: relu's derivative times value.
inline float ReluGrad(float x, float value) { return x > 0.0f ? value : 0.0f; }
inline vec ReluGrad(vec x, vec value) { return x > vec{} ? value : vec{}; }

// Runs unit(T{}, u) for units [u, u + lanes) over [0, hid): T = vec where a whole
// vector fits, then float for the tail (the unit reads its type from the tag).
template <typename Unit>
inline void ForUnits(int64_t hid, const Unit& unit) {
  int64_t u = 0;
  for (; u + kLanes <= hid; u += kLanes) unit(vec{}, u);
  for (; u < hid; ++u) unit(0.0f, u);
}

}  // namespace
