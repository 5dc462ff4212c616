// The time loops of an LSTM layer as XLA FFI handlers for the CPU (float32).
//
// Forward:  gates[t] = act(x[t] W_x + h[t-1] W_h + b);  c[t], h[t] from the gates
//           (the input projection joins each step's recurrent matmul).
// Backward: dz[t] from the gates, the cell states and (dh, dc), as in
//           lstm.py; dh[t-1] = dz[t] W_h^T, dc[t-1] = dc * f.
// Lengths:  a row at or past its length (t >= lengths[row]) is frozen: forward
//           copies its h and c on, backward passes (dh, dc) through with dz = 0.
// The weight gradients, large matmuls over all steps, stay with XLA.
//
// Built at first use by rnn_jax/recurrent/fused/kernel.py with the machine's C++ compiler.

#include "common.h"

namespace {

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

// The forward loops' operands (ReadForwardOperands), and c0 [B, H].
bool ReadLstmOperands(const ffi::Buffer<ffi::F32>& xs, const ffi::Buffer<ffi::F32>& wx,
                      const ffi::Buffer<ffi::F32>& wh, const ffi::Buffer<ffi::F32>& bias,
                      const ffi::Buffer<ffi::F32>& h0, const ffi::Buffer<ffi::F32>& c0,
                      const ffi::Buffer<ffi::S32>& lengths, ForwardOperands& in) {
  return ReadForwardOperands(4, xs, wx, wh, bias, h0, lengths, in) &&
         HasDims(c0, in.s.lead, {in.s.batch, in.hid});
}

ffi::Error LstmForward(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> xs, ffi::Buffer<ffi::F32> wx,
                       ffi::Buffer<ffi::F32> wh, ffi::Buffer<ffi::F32> bias,
                       ffi::Buffer<ffi::F32> h0, ffi::Buffer<ffi::F32> c0,
                       ffi::Buffer<ffi::S32> lengths, ffi::ResultBuffer<ffi::F32> gates,
                       ffi::ResultBuffer<ffi::F32> hs, ffi::ResultBuffer<ffi::F32> cs) {
  ForwardOperands in;
  if (!ReadLstmOperands(xs, wx, wh, bias, h0, c0, lengths, in)) {
    return ShapeError("RnnJaxLstmForward");
  }
  const Layout& s = in.s;
  const int64_t batch = s.batch, d = in.d, hid = in.hid, g4 = in.g;
  const auto& packed_x = in.packed_x;
  const auto& packed_h = in.packed_h;
  const int64_t seq_x = s.t_len * batch * d, seq_z = s.t_len * batch * g4;  // per member
  const int64_t seq_h = s.t_len * batch * hid;

  ParallelMembers(pool, s.members, batch, [&](int64_t m, int64_t lo, int64_t hi) {
    const float* x = xs.typed_data() + m * seq_x;
    const float* b = bias.typed_data() + m * g4;
    float* a = gates->typed_data() + m * seq_z;
    float* h_out = hs->typed_data() + m * seq_h;
    float* c_out = cs->typed_data() + m * seq_h;
    const int32_t* len = lengths.typed_data() + m * batch;
    for (int64_t t = 0; t < s.t_len; ++t) {
      const float* h_prev = t == 0 ? h0.typed_data() + m * batch * hid
                                   : h_out + (t - 1) * batch * hid;
      const float* c_prev = t == 0 ? c0.typed_data() + m * batch * hid
                                   : c_out + (t - 1) * batch * hid;
      float* z = a + t * batch * g4;
      Gemm(hi - lo, d, g4, x + (t * batch + lo) * d, d, packed_x[m].data(), nullptr,
           z + lo * g4, g4);
      Gemm(hi - lo, hid, g4, h_prev + lo * hid, hid, packed_h[m].data(), z + lo * g4,
           z + lo * g4, g4);
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

// Inference: the forward loop without the backward pass's buffers. Each step's
// input projection joins its recurrent matmul (z = x_t W_x + h W_h, in a
// per-thread buffer that stays in cache), so no [T, B, 4H] buffer is written or
// read, and only h of every step and the last c leave the kernel.
ffi::Error LstmInfer(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> xs, ffi::Buffer<ffi::F32> wx,
                     ffi::Buffer<ffi::F32> wh, ffi::Buffer<ffi::F32> bias,
                     ffi::Buffer<ffi::F32> h0, ffi::Buffer<ffi::F32> c0,
                     ffi::Buffer<ffi::S32> lengths, ffi::ResultBuffer<ffi::F32> hs,
                     ffi::ResultBuffer<ffi::F32> c_last) {
  ForwardOperands in;
  if (!ReadLstmOperands(xs, wx, wh, bias, h0, c0, lengths, in)) {
    return ShapeError("RnnJaxLstmInfer");
  }
  const Layout& s = in.s;
  const int64_t batch = s.batch, d = in.d, hid = in.hid, g4 = in.g;
  const auto& packed_x = in.packed_x;
  const auto& packed_h = in.packed_h;
  const int64_t seq_x = s.t_len * batch * d, seq_h = s.t_len * batch * hid;  // per member

  ParallelMembers(pool, s.members, batch, [&](int64_t m, int64_t lo, int64_t hi) {
    const float* x = xs.typed_data() + m * seq_x;
    const float* b = bias.typed_data() + m * g4;
    float* h_out = hs->typed_data() + m * seq_h;
    const int32_t* len = lengths.typed_data() + m * batch;
    std::vector<float> z((hi - lo) * g4);  // this block's gates, step by step
    float* c = c_last->typed_data() + (m * batch + lo) * hid;  // the cell state, carried
    std::memcpy(c, c0.typed_data() + (m * batch + lo) * hid, (hi - lo) * hid * sizeof(float));
    for (int64_t t = 0; t < s.t_len; ++t) {
      const float* h_prev = t == 0 ? h0.typed_data() + m * batch * hid
                                   : h_out + (t - 1) * batch * hid;
      Gemm(hi - lo, d, g4, x + (t * batch + lo) * d, d, packed_x[m].data(), nullptr, z.data(),
           g4);
      Gemm(hi - lo, hid, g4, h_prev + lo * hid, hid, packed_h[m].data(), z.data(), z.data(), g4);
      for (int64_t r = lo; r < hi; ++r) {
        float* hr = h_out + (t * batch + r) * hid;
        if (t >= len[r]) {  // finished: the carry stays as it was
          std::memcpy(hr, h_prev + r * hid, hid * sizeof(float));
          continue;
        }
        float* zr = z.data() + (r - lo) * g4;
        float* cr = c + (r - lo) * hid;
        int64_t u = 0;
        for (; u + kLanes <= hid; u += kLanes) ForwardUnits<vec>(zr, b, cr, cr, hr, hid, u);
        for (; u < hid; ++u) ForwardUnits<float>(zr, b, cr, cr, hr, hid, u);
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
  const auto packed = PackAll(wh.typed_data(), members, hid * g4, g4, g4, hid, /*transposed=*/true);
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
                                  .Arg<ffi::Buffer<ffi::F32>>()  // xs [M?, T, B, D]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // wx [D, 4H]
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

XLA_FFI_DEFINE_HANDLER_SYMBOL(RnnJaxLstmInfer, LstmInfer,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()  // xs [T, B, D]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // wx [D, 4H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // wh [H, 4H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // b [4H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // h0 [B, H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // c0 [B, H]
                                  .Arg<ffi::Buffer<ffi::S32>>()  // lengths [B]
                                  .Ret<ffi::Buffer<ffi::F32>>()  // hs [T, B, H]
                                  .Ret<ffi::Buffer<ffi::F32>>());  // c_T [B, H]
