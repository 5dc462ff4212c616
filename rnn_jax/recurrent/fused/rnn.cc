// The time loops of a vanilla RNN layer (tanh or relu) as XLA FFI handlers for the CPU
// (float32).
//
// Forward:  h[t] = act(x[t] W_x + h[t-1] W_h + b) (the input projection joins each
//           step's recurrent matmul).
// Backward: dz[t] = (dh + dy[t]) * act'(h[t]), written over dy[t] (aliased);
//           dh[t-1] = dz[t] W_h^T.
// Lengths:  a row at or past its length is frozen: forward copies its h on,
//           backward passes dh through with dz = 0.
// The weight gradients, large matmuls over all steps, stay with XLA (rnn.py).
//
// Built at first use by rnn_jax/recurrent/fused/kernel.py with the machine's C++ compiler.

#include "common.h"

namespace {

template <bool kRelu, typename T>
inline T Activate(T x) {
  if constexpr (kRelu) {
    return Relu(x);
  } else {
    return Tanh(x);
  }
}

// act'(pre) * value, from the activation's output h = act(pre).
template <bool kRelu, typename T>
inline T ActivationGrad(T h, T value) {
  if constexpr (kRelu) {
    return ReluGrad(h, value);
  } else {
    return value * (1.0f - h * h);
  }
}

template <bool kRelu>
ffi::Error RnnForward(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> xs, ffi::Buffer<ffi::F32> wx,
                      ffi::Buffer<ffi::F32> wh, ffi::Buffer<ffi::F32> bias,
                      ffi::Buffer<ffi::F32> h0, ffi::Buffer<ffi::S32> lengths,
                      ffi::ResultBuffer<ffi::F32> hs) {
  ForwardOperands in;
  if (!ReadForwardOperands(1, xs, wx, wh, bias, h0, lengths, in)) {
    return ShapeError("RnnJaxRnnForward");
  }
  const Layout& s = in.s;
  const int64_t batch = s.batch, d = in.d, hid = in.hid;
  const auto& packed_x = in.packed_x;
  const auto& packed = in.packed_h;
  const int64_t seq = s.t_len * batch * hid, seq_x = s.t_len * batch * d;  // per member

  ParallelMembers(pool, s.members, batch, [&](int64_t m, int64_t lo, int64_t hi) {
    const float* x = xs.typed_data() + m * seq_x;
    const float* b = bias.typed_data() + m * hid;
    float* h_out = hs->typed_data() + m * seq;
    const int32_t* len = lengths.typed_data() + m * batch;
    for (int64_t t = 0; t < s.t_len; ++t) {
      const float* h_prev = t == 0 ? h0.typed_data() + m * batch * hid
                                   : h_out + (t - 1) * batch * hid;
      float* h_now = h_out + t * batch * hid;
      Gemm(hi - lo, d, hid, x + (t * batch + lo) * d, d, packed_x[m].data(), nullptr,
           h_now + lo * hid, hid);
      Gemm(hi - lo, hid, hid, h_prev + lo * hid, hid, packed[m].data(), h_now + lo * hid,
           h_now + lo * hid, hid);
      for (int64_t r = lo; r < hi; ++r) {
        float* hr = h_now + r * hid;
        if (t >= len[r]) {  // finished: the carry stays as it was
          std::memcpy(hr, h_prev + r * hid, hid * sizeof(float));
          continue;
        }
        ForUnits(hid, [&](auto tag, int64_t u) {
          using T = decltype(tag);
          Store(hr + u, Activate<kRelu>(Load<T>(hr + u) + Load<T>(b + u)));
        });
      }
    }
  });
  return ffi::Error::Success();
}

template <bool kRelu>
ffi::Error RnnBackward(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> hs,
                       ffi::Buffer<ffi::F32> wh, ffi::Buffer<ffi::F32> dys,
                       ffi::Buffer<ffi::F32> dh_last, ffi::Buffer<ffi::S32> lengths,
                       ffi::ResultBuffer<ffi::F32> dz_out, ffi::ResultBuffer<ffi::F32> dh0) {
  Layout s;
  if (!ReadLayout(hs, s)) return ShapeError("RnnJaxRnnBackward");
  const int64_t batch = s.batch, hid = s.width;
  if (!HasDims(wh, s.lead, {hid, hid}) || !HasDims(dys, s.lead, {s.t_len, batch, hid}) ||
      !HasDims(dh_last, s.lead, {batch, hid}) || !HasDims(lengths, s.lead, {batch})) {
    return ShapeError("RnnJaxRnnBackward");
  }
  const auto packed = PackAll(wh.typed_data(), s.members, hid * hid, hid, hid, hid, true);
  std::memcpy(dh0->typed_data(), dh_last.typed_data(), dh_last.size_bytes());
  const int64_t seq = s.t_len * batch * hid;  // per member

  ParallelMembers(pool, s.members, batch, [&](int64_t m, int64_t lo, int64_t hi) {
    const float* h_all = hs.typed_data() + m * seq;
    const float* dy = dys.typed_data() + m * seq;
    float* dz = dz_out->typed_data() + m * seq;
    float* dh = dh0->typed_data() + m * batch * hid;
    const int32_t* len = lengths.typed_data() + m * batch;
    std::vector<float> through((hi - lo) * hid);  // dz W_h^T of this block's rows
    for (int64_t t = s.t_len - 1; t >= 0; --t) {
      for (int64_t r = lo; r < hi; ++r) {
        const float* hr = h_all + (t * batch + r) * hid;
        const float* dyr = dy + (t * batch + r) * hid;
        float* dzr = dz + (t * batch + r) * hid;
        float* dhr = dh + r * hid;
        const bool frozen = t >= len[r];
        ForUnits(hid, [&](auto tag, int64_t u) {
          using T = decltype(tag);
          const T dh_u = Load<T>(dhr + u) + Load<T>(dyr + u);
          Store(dhr + u, dh_u);
          Store(dzr + u, frozen ? T{} : ActivationGrad<kRelu>(Load<T>(hr + u), dh_u));
        });
      }
      float* d = dz + t * batch * hid;
      Gemm(hi - lo, hid, hid, d + lo * hid, hid, packed[m].data(), nullptr, through.data(), hid);
      for (int64_t r = lo; r < hi; ++r) {
        if (t >= len[r]) continue;  // finished: dh passes through
        std::memcpy(dh + r * hid, through.data() + (r - lo) * hid, hid * sizeof(float));
      }
    }
  });
  return ffi::Error::Success();
}

}  // namespace

#define RNN_JAX_RNN_HANDLERS(FORWARD, BACKWARD, RELU)                                      \
  XLA_FFI_DEFINE_HANDLER_SYMBOL(FORWARD, RnnForward<RELU>,                                  \
                                ffi::Ffi::Bind()                                            \
                                    .Ctx<ffi::ThreadPool>()                                 \
                                    .Arg<ffi::Buffer<ffi::F32>>() /* xs [T, B, D] */        \
                                    .Arg<ffi::Buffer<ffi::F32>>() /* wx [D, H] */           \
                                    .Arg<ffi::Buffer<ffi::F32>>() /* wh [H, H] */           \
                                    .Arg<ffi::Buffer<ffi::F32>>() /* b [H] */               \
                                    .Arg<ffi::Buffer<ffi::F32>>() /* h0 [B, H] */           \
                                    .Arg<ffi::Buffer<ffi::S32>>() /* lengths [B] */         \
                                    .Ret<ffi::Buffer<ffi::F32>>()); /* hs [T, B, H] */      \
  XLA_FFI_DEFINE_HANDLER_SYMBOL(BACKWARD, RnnBackward<RELU>,                                \
                                ffi::Ffi::Bind()                                            \
                                    .Ctx<ffi::ThreadPool>()                                 \
                                    .Arg<ffi::Buffer<ffi::F32>>() /* hs [T, B, H] */        \
                                    .Arg<ffi::Buffer<ffi::F32>>() /* wh [H, H] */           \
                                    .Arg<ffi::Buffer<ffi::F32>>() /* dys [T, B, H] */       \
                                    .Arg<ffi::Buffer<ffi::F32>>() /* dh_T [B, H] */         \
                                    .Arg<ffi::Buffer<ffi::S32>>() /* lengths [B] */         \
                                    .Ret<ffi::Buffer<ffi::F32>>() /* dz [T, B, H] */        \
                                    .Ret<ffi::Buffer<ffi::F32>>()); /* dh_0 [B, H] */

RNN_JAX_RNN_HANDLERS(RnnJaxRnnTanhForward, RnnJaxRnnTanhBackward, false)
RNN_JAX_RNN_HANDLERS(RnnJaxRnnReluForward, RnnJaxRnnReluBackward, true)
