// The time loops of a GRU layer, both forms, as XLA FFI handlers for the CPU (float32).
// Gates are fused in the order z, r, n; xw[t] = x_t W_x (no bias) is each step's
// input projection, computed in the step's first matmul into the gates' slot.
//
// Reset-after (cuDNN, PyTorch, Flax), one recurrent matmul a = h W_h per step:
//   z, r = sigmoid(xw[z,r] + b[z,r] + a[z,r]);  hn = a[n] + bhn
//   n = tanh(xw[n] + b[n] + r * hn);            h = h_prev + z (n - h_prev)
//   forward saves [z, r, n] and hn;
//   backward, from dh (+ dy[t]):
//     dn = dh z (1 - n^2),  da = [dh (n - h_prev) z (1 - z),  dn hn r (1 - r),  dn r]
//     dh_prev = dh (1 - z) + da W_h^T
//   writes da over the gates (aliased) and dn over hn: dW_h = sum h_prev^T da,
//   and the input's gradient is [da[z, r], dn].
//
// Reset-before (the course's), two recurrent matmuls per step:
//   z, r = sigmoid(xw[z,r] + b[z,r] + h_prev W_h[z,r])
//   n = tanh(xw[n] + b[n] + (r h_prev) W_h[n]);  h = h_prev + z (n - h_prev)
//   forward saves [z, r, n];
//   backward: dn = dh z (1 - n^2),  drh = dn W_h[n]^T,  dr = drh h_prev r (1 - r),
//     dz = dh (n - h_prev) z (1 - z),  dh_prev = dh (1 - z) + drh r + [dz, dr] W_h[z,r]^T
//   writes [dz, dr, dn] over the gates (aliased): the input's gradient, and with
//   h_prev and r h_prev the recurrent weights' (gru.py).
//
// Lengths: a row at or past its length is frozen: forward copies its h on,
// backward passes dh through with zero gate gradients.
//
// Built at first use by rnn_jax/recurrent/fused/kernel.py with the machine's C++ compiler.

#include "common.h"

namespace {

ffi::Error ResetAfterForward(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> xs,
                             ffi::Buffer<ffi::F32> wx, ffi::Buffer<ffi::F32> wh,
                             ffi::Buffer<ffi::F32> bias, ffi::Buffer<ffi::F32> bhn,
                             ffi::Buffer<ffi::F32> h0, ffi::Buffer<ffi::S32> lengths,
                             ffi::ResultBuffer<ffi::F32> gates, ffi::ResultBuffer<ffi::F32> hns,
                             ffi::ResultBuffer<ffi::F32> hs) {
  ForwardOperands in;
  if (!ReadForwardOperands(3, xs, wx, wh, bias, h0, lengths, in) ||
      !HasDims(bhn, in.s.lead, {in.hid})) {
    return ShapeError("RnnJaxGruResetAfterForward");
  }
  const Layout& s = in.s;
  const int64_t batch = s.batch, d = in.d, hid = in.hid, g3 = in.g;
  const auto& packed_x = in.packed_x;
  const auto& packed = in.packed_h;
  const int64_t seq_g = s.t_len * batch * g3, seq_h = s.t_len * batch * hid;  // per member
  const int64_t seq_x = s.t_len * batch * d;

  ParallelMembers(pool, s.members, batch, [&](int64_t m, int64_t lo, int64_t hi) {
    const float* x = xs.typed_data() + m * seq_x;
    const float* b = bias.typed_data() + m * g3;
    const float* bn = bhn.typed_data() + m * hid;
    float* g_out = gates->typed_data() + m * seq_g;
    float* hn_out = hns->typed_data() + m * seq_h;
    float* h_out = hs->typed_data() + m * seq_h;
    const int32_t* len = lengths.typed_data() + m * batch;
    std::vector<float> a((hi - lo) * g3);  // h_prev W_h of this block's rows
    for (int64_t t = 0; t < s.t_len; ++t) {
      const float* h_prev = t == 0 ? h0.typed_data() + m * batch * hid
                                   : h_out + (t - 1) * batch * hid;
      float* g_t = g_out + (t * batch + lo) * g3;
      Gemm(hi - lo, d, g3, x + (t * batch + lo) * d, d, packed_x[m].data(), nullptr, g_t, g3);
      Gemm(hi - lo, hid, g3, h_prev + lo * hid, hid, packed[m].data(), nullptr, a.data(), g3);
      for (int64_t r = lo; r < hi; ++r) {
        const float* hp = h_prev + r * hid;
        float* hr = h_out + (t * batch + r) * hid;
        if (t >= len[r]) {  // finished: the carry stays as it was
          std::memcpy(hr, hp, hid * sizeof(float));
          continue;
        }
        const float* ar = a.data() + (r - lo) * g3;
        float* gr = g_out + (t * batch + r) * g3;
        const float* xr = gr;  // x_t W_x, overwritten unit by unit with [z, r, n]
        float* hnr = hn_out + (t * batch + r) * hid;
        ForUnits(hid, [&](auto tag, int64_t u) {
          using T = decltype(tag);
          const T z = Sigmoid(Load<T>(xr + u) + Load<T>(b + u) + Load<T>(ar + u));
          const int64_t ur = hid + u, un = 2 * hid + u;
          const T r_ = Sigmoid(Load<T>(xr + ur) + Load<T>(b + ur) + Load<T>(ar + ur));
          const T hn = Load<T>(ar + un) + Load<T>(bn + u);
          const T n = Tanh(Load<T>(xr + un) + Load<T>(b + un) + r_ * hn);
          const T h_p = Load<T>(hp + u);
          Store(gr + u, z);
          Store(gr + ur, r_);
          Store(gr + un, n);
          Store(hnr + u, hn);
          Store(hr + u, h_p + z * (n - h_p));
        });
      }
    }
  });
  return ffi::Error::Success();
}

ffi::Error ResetAfterBackward(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> gates,
                              ffi::Buffer<ffi::F32> hns, ffi::Buffer<ffi::F32> hs,
                              ffi::Buffer<ffi::F32> h0, ffi::Buffer<ffi::F32> wh,
                              ffi::Buffer<ffi::F32> dys, ffi::Buffer<ffi::F32> dh_last,
                              ffi::Buffer<ffi::S32> lengths, ffi::ResultBuffer<ffi::F32> da_out,
                              ffi::ResultBuffer<ffi::F32> dn_out,
                              ffi::ResultBuffer<ffi::F32> dh0) {
  Layout s;
  if (!ReadLayout(gates, s) || s.width % 3 != 0) return ShapeError("RnnJaxGruResetAfterBackward");
  const int64_t batch = s.batch, g3 = s.width, hid = g3 / 3;
  if (!HasDims(hns, s.lead, {s.t_len, batch, hid}) ||
      !HasDims(hs, s.lead, {s.t_len, batch, hid}) || !HasDims(h0, s.lead, {batch, hid}) ||
      !HasDims(wh, s.lead, {hid, g3}) || !HasDims(dys, s.lead, {s.t_len, batch, hid}) ||
      !HasDims(dh_last, s.lead, {batch, hid}) || !HasDims(lengths, s.lead, {batch})) {
    return ShapeError("RnnJaxGruResetAfterBackward");
  }
  const auto packed = PackAll(wh.typed_data(), s.members, hid * g3, g3, g3, hid, true);
  std::memcpy(dh0->typed_data(), dh_last.typed_data(), dh_last.size_bytes());
  const int64_t seq_g = s.t_len * batch * g3, seq_h = s.t_len * batch * hid;  // per member

  ParallelMembers(pool, s.members, batch, [&](int64_t m, int64_t lo, int64_t hi) {
    const float* g_all = gates.typed_data() + m * seq_g;
    const float* hn_all = hns.typed_data() + m * seq_h;
    const float* h_all = hs.typed_data() + m * seq_h;
    const float* dy = dys.typed_data() + m * seq_h;
    float* da = da_out->typed_data() + m * seq_g;
    float* dn = dn_out->typed_data() + m * seq_h;
    float* dh = dh0->typed_data() + m * batch * hid;
    const int32_t* len = lengths.typed_data() + m * batch;
    std::vector<float> kept((hi - lo) * hid);  // dh (1 - z): what passes around the matmul
    for (int64_t t = s.t_len - 1; t >= 0; --t) {
      const float* h_prev = t == 0 ? h0.typed_data() + m * batch * hid
                                   : h_all + (t - 1) * batch * hid;
      for (int64_t r = lo; r < hi; ++r) {
        const int64_t row = t * batch + r;
        const float* gr = g_all + row * g3;
        const float* hnr = hn_all + row * hid;
        const float* hp = h_prev + r * hid;
        const float* dyr = dy + row * hid;
        float* dar = da + row * g3;
        float* dnr = dn + row * hid;
        float* dhr = dh + r * hid;
        float* kr = kept.data() + (r - lo) * hid;
        if (t >= len[r]) {  // finished: dh passes through, no gate gradient
          std::memset(dar, 0, g3 * sizeof(float));
          std::memset(dnr, 0, hid * sizeof(float));
          for (int64_t u = 0; u < hid; ++u) kr[u] = dhr[u] + dyr[u];
          continue;
        }
        ForUnits(hid, [&](auto tag, int64_t u) {
          using T = decltype(tag);
          const int64_t ur = hid + u, un = 2 * hid + u;
          const T z = Load<T>(gr + u), r_ = Load<T>(gr + ur), n = Load<T>(gr + un);
          const T dh_u = Load<T>(dhr + u) + Load<T>(dyr + u);
          const T dn_u = dh_u * z * (1.0f - n * n);
          Store(dar + u, dh_u * (n - Load<T>(hp + u)) * z * (1.0f - z));
          Store(dar + ur, dn_u * Load<T>(hnr + u) * r_ * (1.0f - r_));
          Store(dar + un, dn_u * r_);
          Store(dnr + u, dn_u);
          Store(kr + u, dh_u * (1.0f - z));
        });
      }
      Gemm(hi - lo, g3, hid, da + (t * batch + lo) * g3, g3, packed[m].data(), kept.data(),
           dh + lo * hid, hid);
    }
  });
  return ffi::Error::Success();
}

ffi::Error ResetBeforeForward(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> xs,
                              ffi::Buffer<ffi::F32> wx, ffi::Buffer<ffi::F32> wh,
                              ffi::Buffer<ffi::F32> bias, ffi::Buffer<ffi::F32> h0,
                              ffi::Buffer<ffi::S32> lengths, ffi::ResultBuffer<ffi::F32> gates,
                              ffi::ResultBuffer<ffi::F32> hs) {
  ForwardOperands in;
  if (!ReadForwardOperands(3, xs, wx, wh, bias, h0, lengths, in, false)) {
    return ShapeError("RnnJaxGruForward");
  }
  const Layout& s = in.s;
  const int64_t batch = s.batch, d = in.d, hid = in.hid, g3 = in.g;
  const float* w = wh.typed_data();
  const auto& packed_x = in.packed_x;
  const auto packed_zr = PackAll(w, s.members, hid * g3, g3, hid, 2 * hid, false);
  const auto packed_n = PackAll(w + 2 * hid, s.members, hid * g3, g3, hid, hid, false);
  const int64_t seq_g = s.t_len * batch * g3, seq_h = s.t_len * batch * hid;  // per member
  const int64_t seq_x = s.t_len * batch * d;

  ParallelMembers(pool, s.members, batch, [&](int64_t m, int64_t lo, int64_t hi) {
    const float* x = xs.typed_data() + m * seq_x;
    const float* b = bias.typed_data() + m * g3;
    float* g_out = gates->typed_data() + m * seq_g;
    float* h_out = hs->typed_data() + m * seq_h;
    const int32_t* len = lengths.typed_data() + m * batch;
    std::vector<float> rh((hi - lo) * hid);  // r * h_prev of this block's rows
    for (int64_t t = 0; t < s.t_len; ++t) {
      const float* h_prev = t == 0 ? h0.typed_data() + m * batch * hid
                                   : h_out + (t - 1) * batch * hid;
      float* g_t = g_out + (t * batch + lo) * g3;
      Gemm(hi - lo, d, g3, x + (t * batch + lo) * d, d, packed_x[m].data(), nullptr, g_t, g3);
      Gemm(hi - lo, hid, 2 * hid, h_prev + lo * hid, hid, packed_zr[m].data(), g_t, g_t, g3);
      for (int64_t r = lo; r < hi; ++r) {
        float* gr = g_out + (t * batch + r) * g3;
        const float* hp = h_prev + r * hid;
        float* rhr = rh.data() + (r - lo) * hid;
        ForUnits(hid, [&](auto tag, int64_t u) {
          using T = decltype(tag);
          const T z = Sigmoid(Load<T>(gr + u) + Load<T>(b + u));
          const T r_ = Sigmoid(Load<T>(gr + hid + u) + Load<T>(b + hid + u));
          Store(gr + u, z);
          Store(gr + hid + u, r_);
          Store(rhr + u, r_ * Load<T>(hp + u));
        });
      }
      Gemm(hi - lo, hid, hid, rh.data(), hid, packed_n[m].data(), g_t + 2 * hid, g_t + 2 * hid,
           g3);
      for (int64_t r = lo; r < hi; ++r) {
        float* gr = g_out + (t * batch + r) * g3;
        const float* hp = h_prev + r * hid;
        float* hr = h_out + (t * batch + r) * hid;
        if (t >= len[r]) {  // finished: the carry stays as it was
          std::memcpy(hr, hp, hid * sizeof(float));
          continue;
        }
        ForUnits(hid, [&](auto tag, int64_t u) {
          using T = decltype(tag);
          const T n = Tanh(Load<T>(gr + 2 * hid + u) + Load<T>(b + 2 * hid + u));
          const T h_p = Load<T>(hp + u);
          Store(gr + 2 * hid + u, n);
          Store(hr + u, h_p + Load<T>(gr + u) * (n - h_p));
        });
      }
    }
  });
  return ffi::Error::Success();
}

ffi::Error ResetBeforeBackward(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> gates,
                               ffi::Buffer<ffi::F32> hs, ffi::Buffer<ffi::F32> h0,
                               ffi::Buffer<ffi::F32> wh, ffi::Buffer<ffi::F32> dys,
                               ffi::Buffer<ffi::F32> dh_last, ffi::Buffer<ffi::S32> lengths,
                               ffi::ResultBuffer<ffi::F32> dg_out,
                               ffi::ResultBuffer<ffi::F32> dh0) {
  Layout s;
  if (!ReadLayout(gates, s) || s.width % 3 != 0) return ShapeError("RnnJaxGruBackward");
  const int64_t batch = s.batch, g3 = s.width, hid = g3 / 3;
  if (!HasDims(hs, s.lead, {s.t_len, batch, hid}) || !HasDims(h0, s.lead, {batch, hid}) ||
      !HasDims(wh, s.lead, {hid, g3}) || !HasDims(dys, s.lead, {s.t_len, batch, hid}) ||
      !HasDims(dh_last, s.lead, {batch, hid}) || !HasDims(lengths, s.lead, {batch})) {
    return ShapeError("RnnJaxGruBackward");
  }
  const float* w = wh.typed_data();
  const auto packed_zr = PackAll(w, s.members, hid * g3, g3, 2 * hid, hid, true);  // W[z,r]^T
  const auto packed_n = PackAll(w + 2 * hid, s.members, hid * g3, g3, hid, hid, true);  // W[n]^T
  std::memcpy(dh0->typed_data(), dh_last.typed_data(), dh_last.size_bytes());
  const int64_t seq_g = s.t_len * batch * g3, seq_h = s.t_len * batch * hid;  // per member

  ParallelMembers(pool, s.members, batch, [&](int64_t m, int64_t lo, int64_t hi) {
    const float* h_all = hs.typed_data() + m * seq_h;
    const float* dy = dys.typed_data() + m * seq_h;
    const float* g_in = gates.typed_data() + m * seq_g;
    float* dg = dg_out->typed_data() + m * seq_g;
    float* dh = dh0->typed_data() + m * batch * hid;
    const int32_t* len = lengths.typed_data() + m * batch;
    std::vector<float> kept((hi - lo) * hid);  // dh (1 - z) + drh r: what passes around W[z,r]
    std::vector<float> drh((hi - lo) * hid);   // the gradient of r * h_prev
    for (int64_t t = s.t_len - 1; t >= 0; --t) {
      const float* h_prev = t == 0 ? h0.typed_data() + m * batch * hid
                                   : h_all + (t - 1) * batch * hid;
      float* dg_t = dg + (t * batch + lo) * g3;
      // gates' [z, r, n] become [dz, r, dn] here, then [dz, dr, dn] after W[n]^T.
      for (int64_t r = lo; r < hi; ++r) {
        const int64_t row = t * batch + r;
        const float* gr = g_in + row * g3;
        float* dgr = dg + row * g3;
        const float* hp = h_prev + r * hid;
        const float* dyr = dy + row * hid;
        float* dhr = dh + r * hid;
        float* kr = kept.data() + (r - lo) * hid;
        if (t >= len[r]) {  // finished: dh passes through, no gate gradient
          for (int64_t u = 0; u < hid; ++u) kr[u] = dhr[u] + dyr[u];
          std::memset(dgr, 0, g3 * sizeof(float));
          continue;
        }
        ForUnits(hid, [&](auto tag, int64_t u) {
          using T = decltype(tag);
          const T z = Load<T>(gr + u), r_ = Load<T>(gr + hid + u), n = Load<T>(gr + 2 * hid + u);
          const T dh_u = Load<T>(dhr + u) + Load<T>(dyr + u);
          Store(dgr + u, dh_u * (n - Load<T>(hp + u)) * z * (1.0f - z));
          Store(dgr + hid + u, r_);
          Store(dgr + 2 * hid + u, dh_u * z * (1.0f - n * n));
          Store(kr + u, dh_u * (1.0f - z));
        });
      }
      Gemm(hi - lo, hid, hid, dg_t + 2 * hid, g3, packed_n[m].data(), nullptr, drh.data(), hid);
      for (int64_t r = lo; r < hi; ++r) {
        if (t >= len[r]) continue;
        float* dgr = dg + (t * batch + r) * g3;
        const float* hp = h_prev + r * hid;
        const float* dr = drh.data() + (r - lo) * hid;
        float* kr = kept.data() + (r - lo) * hid;
        ForUnits(hid, [&](auto tag, int64_t u) {
          using T = decltype(tag);
          const T r_ = Load<T>(dgr + hid + u), d = Load<T>(dr + u);
          Store(dgr + hid + u, d * Load<T>(hp + u) * r_ * (1.0f - r_));
          Store(kr + u, Load<T>(kr + u) + d * r_);
        });
      }
      Gemm(hi - lo, 2 * hid, hid, dg_t, g3, packed_zr[m].data(), kept.data(), dh + lo * hid,
           hid);
    }
  });
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(RnnJaxGruResetAfterForward, ResetAfterForward,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()  // xs [T, B, D]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // wx [D, 3H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // wh [H, 3H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // b [3H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // bhn [H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // h0 [B, H]
                                  .Arg<ffi::Buffer<ffi::S32>>()  // lengths [B]
                                  .Ret<ffi::Buffer<ffi::F32>>()  // gates [T, B, 3H]
                                  .Ret<ffi::Buffer<ffi::F32>>()  // hn [T, B, H]
                                  .Ret<ffi::Buffer<ffi::F32>>());  // hs [T, B, H]

XLA_FFI_DEFINE_HANDLER_SYMBOL(RnnJaxGruResetAfterBackward, ResetAfterBackward,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()  // gates [T, B, 3H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // hn [T, B, H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // hs [T, B, H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // h0 [B, H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // wh [H, 3H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // dys [T, B, H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // dh_T [B, H]
                                  .Arg<ffi::Buffer<ffi::S32>>()  // lengths [B]
                                  .Ret<ffi::Buffer<ffi::F32>>()  // da [T, B, 3H]
                                  .Ret<ffi::Buffer<ffi::F32>>()  // dn [T, B, H]
                                  .Ret<ffi::Buffer<ffi::F32>>());  // dh_0 [B, H]

XLA_FFI_DEFINE_HANDLER_SYMBOL(RnnJaxGruForward, ResetBeforeForward,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()  // xs [T, B, D]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // wx [D, 3H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // wh [H, 3H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // b [3H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // h0 [B, H]
                                  .Arg<ffi::Buffer<ffi::S32>>()  // lengths [B]
                                  .Ret<ffi::Buffer<ffi::F32>>()  // gates [T, B, 3H]
                                  .Ret<ffi::Buffer<ffi::F32>>());  // hs [T, B, H]

XLA_FFI_DEFINE_HANDLER_SYMBOL(RnnJaxGruBackward, ResetBeforeBackward,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()  // gates [T, B, 3H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // hs [T, B, H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // h0 [B, H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // wh [H, 3H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // dys [T, B, H]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // dh_T [B, H]
                                  .Arg<ffi::Buffer<ffi::S32>>()  // lengths [B]
                                  .Ret<ffi::Buffer<ffi::F32>>()  // [dz, dr, dn] [T, B, 3H]
                                  .Ret<ffi::Buffer<ffi::F32>>());  // dh_0 [B, H]
