// The time loops of an LSTM layer as XLA FFI handlers for the CPU (float32).
//
// XLA:CPU runs each step of a scanned LSTM as a chain of small operations (a
// matmul, then several elementwise passes), one after another and mostly on one
// core. Here one handler runs all steps: each step is one register-blocked
// matmul whose output tile stays in cache for the gate arithmetic, and the
// batch is split into row blocks that run on XLA's intra-op threads with no
// synchronisation at all, since the rows of a batch never interact.
//
// Forward:  gates[t] = act(xw[t] + h[t-1] W_h + b);  c[t], h[t] from the gates.
// Backward: dz[t] from the gates, the cell states and (dh, dc), as in
//           layer.py; dh[t-1] = dz[t] W_h^T, dc[t-1] = dc * f.
// Lengths:  a row at or past its length (t >= lengths[row]) is frozen: forward
//           copies its h and c on, backward passes (dh, dc) through with dz = 0.
// The weight gradients, large matmuls over all steps, stay with XLA.
// Under jax.vmap every operand has a leading member axis [M, ...] (independent
// LSTMs, e.g. the seeds of a sweep), and all members' rows share the threads.
//
// Built at first use by rnn_jax/recurrent/fused_lstm/cpu.py with the machine's C++ compiler.

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

// One forward step for units [u, u + lanes) of one row: pre-activations z (4H,
// overwritten with the activations), bias b, previous cell state, new c and h.
template <typename T>
inline void ForwardUnits(float* z, const float* b, const float* c_prev, float* c, float* h,
                         int64_t hid, int64_t u) {
  const T i = Sigmoid(Load<T>(z + u) + Load<T>(b + u));
  const T f = Sigmoid(Load<T>(z + hid + u) + Load<T>(b + hid + u));
  const T g = Tanh(Load<T>(z + 2 * hid + u) + Load<T>(b + 2 * hid + u));
  const T o = Sigmoid(Load<T>(z + 3 * hid + u) + Load<T>(b + 3 * hid + u));
  const T c_new = f * Load<T>(c_prev + u) + i * g;
  Store(z + u, i);
  Store(z + hid + u, f);
  Store(z + 2 * hid + u, g);
  Store(z + 3 * hid + u, o);
  Store(c + u, c_new);
  Store(h + u, o * Tanh(c_new));
}

// One backward step for units [u, u + lanes) of one row: dz (4H) from the gate
// activations a, cell states, dy and the carries dh, dc (dc is updated to
// dc * f; dh is then recomputed by the caller's matmul).
template <typename T>
inline void BackwardUnits(const float* a, float* dz, const float* c_now, const float* c_prev,
                          const float* dy, const float* dh, float* dc, int64_t hid, int64_t u) {
  const T i = Load<T>(a + u), f = Load<T>(a + hid + u);
  const T g = Load<T>(a + 2 * hid + u), o = Load<T>(a + 3 * hid + u);
  const T tc = Tanh(Load<T>(c_now + u));
  const T dh_u = Load<T>(dh + u) + Load<T>(dy + u);
  const T dc_u = Load<T>(dc + u) + dh_u * o * (1.0f - tc * tc);
  Store(dz + u, dc_u * g * i * (1.0f - i));
  Store(dz + hid + u, dc_u * Load<T>(c_prev + u) * f * (1.0f - f));
  Store(dz + 2 * hid + u, dc_u * i * (1.0f - g * g));
  Store(dz + 3 * hid + u, dh_u * tc * o * (1.0f - o));
  Store(dc + u, dc_u * f);
}

// W [k_dim, n_dim] (or its transpose, source [n_dim, k_dim]) as panels of kNr
// columns, each panel [k_dim][kNr] contiguous, zero past n_dim.
std::vector<float> Pack(const float* w, int64_t k_dim, int64_t n_dim, bool transposed) {
  const int64_t panels = (n_dim + kNr - 1) / kNr;
  std::vector<float> out(panels * k_dim * kNr, 0.0f);
  for (int64_t p = 0; p < panels; ++p) {
    float* dst = out.data() + p * k_dim * kNr;
    const int64_t cols = std::min<int64_t>(kNr, n_dim - p * kNr);
    for (int64_t k = 0; k < k_dim; ++k) {
      for (int64_t j = 0; j < cols; ++j) {
        const int64_t n = p * kNr + j;
        dst[k * kNr + j] = transposed ? w[n * k_dim + k] : w[k * n_dim + n];
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
// or zero when null: tiles of kMr rows, then one tile for the rows left over.
void Gemm(int64_t m, int64_t k_dim, int64_t n_dim, const float* a, int64_t lda,
          const float* packed, const float* init, float* c, int64_t ldc) {
  int64_t i = 0;
  for (; i + kMr <= m; i += kMr) {
    Rows<kMr>(k_dim, n_dim, a + i * lda, lda, packed, init == nullptr ? nullptr : init + i * ldc,
              c + i * ldc, ldc);
  }
  if (i < m) {
    LeftOver<kMr - 1>(m - i, k_dim, n_dim, a + i * lda, lda, packed,
                      init == nullptr ? nullptr : init + i * ldc, c + i * ldc, ldc);
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
                                     ": operand shapes disagree (see rnn_jax/recurrent/fused_lstm/cpu.py)");
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

// One packed weight matrix per member.
std::vector<std::vector<float>> PackAll(const float* w, int64_t members, int64_t k_dim,
                                        int64_t n_dim, bool transposed) {
  std::vector<std::vector<float>> out;
  for (int64_t m = 0; m < members; ++m) {
    out.push_back(Pack(w + m * k_dim * n_dim, k_dim, n_dim, transposed));
  }
  return out;
}

ffi::Error LstmForward(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> xw, ffi::Buffer<ffi::F32> wh,
                       ffi::Buffer<ffi::F32> bias, ffi::Buffer<ffi::F32> h0,
                       ffi::Buffer<ffi::F32> c0, ffi::Buffer<ffi::S32> lengths,
                       ffi::ResultBuffer<ffi::F32> gates,
                       ffi::ResultBuffer<ffi::F32> hs, ffi::ResultBuffer<ffi::F32> cs) {
  const auto dims = xw.dimensions();
  if ((dims.size() != 3 && dims.size() != 4) || dims.back() % 4 != 0) {
    return ShapeError("RnnJaxLstmForward");
  }
  const std::vector<int64_t> lead(dims.begin(), dims.end() - 3);  // [members] or []
  const int64_t members = lead.empty() ? 1 : lead[0];
  const int64_t t_len = dims[lead.size()], batch = dims[lead.size() + 1];
  const int64_t g4 = dims.back(), hid = g4 / 4;
  if (!HasDims(wh, lead, {hid, g4}) || !HasDims(bias, lead, {g4}) ||
      !HasDims(h0, lead, {batch, hid}) || !HasDims(c0, lead, {batch, hid}) ||
      !HasDims(lengths, lead, {batch})) {
    return ShapeError("RnnJaxLstmForward");
  }
  const auto packed = PackAll(wh.typed_data(), members, hid, g4, /*transposed=*/false);
  const int64_t seq_z = t_len * batch * g4, seq_h = t_len * batch * hid;  // per member

  ParallelMembers(pool, members, batch, [&](int64_t m, int64_t lo, int64_t hi) {
    const float* x = xw.typed_data() + m * seq_z;
    const float* b = bias.typed_data() + m * g4;
    float* a = gates->typed_data() + m * seq_z;
    float* h_out = hs->typed_data() + m * seq_h;
    float* c_out = cs->typed_data() + m * seq_h;
    const int32_t* len = lengths.typed_data() + m * batch;
    for (int64_t t = 0; t < t_len; ++t) {
      const float* h_prev = t == 0 ? h0.typed_data() + m * batch * hid
                                   : h_out + (t - 1) * batch * hid;
      const float* c_prev = t == 0 ? c0.typed_data() + m * batch * hid
                                   : c_out + (t - 1) * batch * hid;
      float* z = a + t * batch * g4;
      Gemm(hi - lo, hid, g4, h_prev + lo * hid, hid, packed[m].data(),
           x + t * batch * g4 + lo * g4, z + lo * g4, g4);
      for (int64_t r = lo; r < hi; ++r) {
        float* zr = z + r * g4;
        float* hr = h_out + (t * batch + r) * hid;
        float* cr = c_out + (t * batch + r) * hid;
        const float* cpr = c_prev + r * hid;
        if (t >= len[r]) {  // finished: the carry stays as it was
          std::memcpy(hr, h_prev + r * hid, hid * sizeof(float));
          std::memcpy(cr, cpr, hid * sizeof(float));
          continue;
        }
        int64_t u = 0;
        for (; u + kLanes <= hid; u += kLanes) ForwardUnits<vec>(zr, b, cpr, cr, hr, hid, u);
        for (; u < hid; ++u) ForwardUnits<float>(zr, b, cpr, cr, hr, hid, u);
      }
    }
  });
  return ffi::Error::Success();
}

ffi::Error LstmBackward(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> gates,
                        ffi::Buffer<ffi::F32> cs, ffi::Buffer<ffi::F32> c0,
                        ffi::Buffer<ffi::F32> wh, ffi::Buffer<ffi::F32> dys,
                        ffi::Buffer<ffi::F32> dh_last, ffi::Buffer<ffi::F32> dc_last,
                        ffi::Buffer<ffi::S32> lengths, ffi::ResultBuffer<ffi::F32> dz_out, ffi::ResultBuffer<ffi::F32> dh0,
                        ffi::ResultBuffer<ffi::F32> dc0) {
  const auto dims = gates.dimensions();
  if ((dims.size() != 3 && dims.size() != 4) || dims.back() % 4 != 0) {
    return ShapeError("RnnJaxLstmBackward");
  }
  const std::vector<int64_t> lead(dims.begin(), dims.end() - 3);
  const int64_t members = lead.empty() ? 1 : lead[0];
  const int64_t t_len = dims[lead.size()], batch = dims[lead.size() + 1];
  const int64_t g4 = dims.back(), hid = g4 / 4;
  if (!HasDims(cs, lead, {t_len, batch, hid}) || !HasDims(c0, lead, {batch, hid}) ||
      !HasDims(wh, lead, {hid, g4}) || !HasDims(dys, lead, {t_len, batch, hid}) ||
      !HasDims(dh_last, lead, {batch, hid}) || !HasDims(dc_last, lead, {batch, hid}) ||
      !HasDims(lengths, lead, {batch})) {
    return ShapeError("RnnJaxLstmBackward");
  }
  const auto packed = PackAll(wh.typed_data(), members, g4, hid, /*transposed=*/true);
  std::memcpy(dh0->typed_data(), dh_last.typed_data(), dh_last.size_bytes());
  std::memcpy(dc0->typed_data(), dc_last.typed_data(), dc_last.size_bytes());
  const int64_t seq_z = t_len * batch * g4, seq_h = t_len * batch * hid;  // per member

  ParallelMembers(pool, members, batch, [&](int64_t m, int64_t lo, int64_t hi) {
    const float* c_all = cs.typed_data() + m * seq_h;
    const float* dy = dys.typed_data() + m * seq_h;
    const float* a_all = gates.typed_data() + m * seq_z;
    const float* c_first = c0.typed_data() + m * batch * hid;
    float* dz = dz_out->typed_data() + m * seq_z;
    float* dh = dh0->typed_data() + m * batch * hid;
    float* dc = dc0->typed_data() + m * batch * hid;
    const int32_t* len = lengths.typed_data() + m * batch;
    std::vector<float> frozen_dh;  // dh of the finished rows, kept across the matmul
    for (int64_t t = t_len - 1; t >= 0; --t) {
      const float* c_now = c_all + t * batch * hid;
      const float* c_prev = t == 0 ? c_first : c_all + (t - 1) * batch * hid;
      float* d = dz + t * batch * g4;
      frozen_dh.clear();
      for (int64_t r = lo; r < hi; ++r) {
        const float* ar = a_all + (t * batch + r) * g4;
        float* dr = d + r * g4;
        float* dhr = dh + r * hid;
        float* dcr = dc + r * hid;
        const float* dyr = dy + (t * batch + r) * hid;
        const float* cn = c_now + r * hid;
        const float* cp = c_prev + r * hid;
        if (t >= len[r]) {  // finished: h_t = h_{t-1}, c_t = c_{t-1}, no gate gradient
          std::memset(dr, 0, g4 * sizeof(float));
          for (int64_t u = 0; u < hid; ++u) dhr[u] += dyr[u];
          frozen_dh.insert(frozen_dh.end(), dhr, dhr + hid);
          continue;
        }
        int64_t u = 0;
        for (; u + kLanes <= hid; u += kLanes) {
          BackwardUnits<vec>(ar, dr, cn, cp, dyr, dhr, dcr, hid, u);
        }
        for (; u < hid; ++u) BackwardUnits<float>(ar, dr, cn, cp, dyr, dhr, dcr, hid, u);
      }
      Gemm(hi - lo, g4, hid, d + lo * g4, g4, packed[m].data(), /*init=*/nullptr, dh + lo * hid,
           hid);
      const float* kept = frozen_dh.data();
      for (int64_t r = lo; r < hi && !frozen_dh.empty(); ++r) {
        if (t < len[r]) continue;
        std::memcpy(dh + r * hid, kept, hid * sizeof(float));
        kept += hid;
      }
    }
  });
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(RnnJaxLstmForward, LstmForward,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()  // xw [M?, T, B, 4H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // wh [H, 4H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // b [4H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // h0 [B, H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // c0 [B, H]
                                  .Arg<ffi::Buffer<ffi::S32>>()  // lengths [B]
                                  .Ret<ffi::Buffer<ffi::F32>>()  // gates [T, B, 4H]
                                  .Ret<ffi::Buffer<ffi::F32>>()  // hs [T, B, H]
                                  .Ret<ffi::Buffer<ffi::F32>>());  // cs [T, B, H]

XLA_FFI_DEFINE_HANDLER_SYMBOL(RnnJaxLstmBackward, LstmBackward,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()  // gates [T, B, 4H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // cs [T, B, H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // c0 [B, H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // wh [H, 4H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // dys [T, B, H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // dh_T [B, H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // dc_T [B, H]
                                  .Arg<ffi::Buffer<ffi::S32>>()  // lengths [B]
                                  .Ret<ffi::Buffer<ffi::F32>>()  // dz [T, B, 4H]
                                  .Ret<ffi::Buffer<ffi::F32>>()  // dh_0 [B, H]
                                  .Ret<ffi::Buffer<ffi::F32>>());  // dc_0 [B, H]
