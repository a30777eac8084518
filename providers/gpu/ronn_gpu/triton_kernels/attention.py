"""Flash attention: ``softmax(Q @ K_t * scale (+ mask)) @ V`` without materializing the scores.

One program per (query block, batch*head); keys stream through in blocks with the online softmax
(running max and sum), float32 accumulation. ``k_t`` is K already transposed ([..., D, T]), the
layout the ``com.ronn::Attention`` op takes. An additive mask is read per block.
"""

from __future__ import annotations

import triton
import triton.language as tl

from ronn_gpu.triton_kernels import next_power_of_2


@triton.jit
def _flash_attention(q_ptr, kt_ptr, v_ptr, mask_ptr, o_ptr, S, T, D, DV, scale,
                     DIVIDE: tl.constexpr, HAS_MASK: tl.constexpr, IEEE: tl.constexpr,
                     BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
                     BLOCK_DV: tl.constexpr):
    mb = tl.program_id(0)
    bh = tl.program_id(1).to(tl.int64)
    offs_m = mb * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, BLOCK_D)
    offs_dv = tl.arange(0, BLOCK_DV)
    m_ok = offs_m < S
    q = tl.load(q_ptr + bh * S * D + offs_m[:, None] * D + offs_d[None, :],
                mask=m_ok[:, None] & (offs_d < D)[None, :], other=0.0)
    m_i = tl.full([BLOCK_M], -float("inf"), tl.float32)
    l_i = tl.zeros([BLOCK_M], tl.float32)
    acc = tl.zeros([BLOCK_M, BLOCK_DV], tl.float32)
    for start in range(0, T, BLOCK_N):
        offs_n = start + tl.arange(0, BLOCK_N)
        n_ok = offs_n < T
        kt = tl.load(kt_ptr + bh * D * T + offs_d[:, None] * T + offs_n[None, :],
                     mask=(offs_d < D)[:, None] & n_ok[None, :], other=0.0)
        if IEEE:
            s = tl.dot(q, kt, input_precision="ieee")
        else:
            s = tl.dot(q, kt)
        if DIVIDE:
            s = s / scale
        else:
            s = s * scale
        if HAS_MASK:
            s += tl.load(mask_ptr + bh * S * T + offs_m[:, None] * T + offs_n[None, :],
                         mask=m_ok[:, None] & n_ok[None, :], other=0.0).to(tl.float32)
        s = tl.where(n_ok[None, :], s, -float("inf"))
        m_new = tl.maximum(m_i, tl.max(s, axis=1))
        m_safe = tl.where(m_new == -float("inf"), 0.0, m_new)   # fully masked rows so far
        p = tl.exp(s - m_safe[:, None])
        alpha = tl.exp(m_i - m_safe)
        l_i = l_i * alpha + tl.sum(p, axis=1)
        v = tl.load(v_ptr + bh * T * DV + offs_n[:, None] * DV + offs_dv[None, :],
                    mask=n_ok[:, None] & (offs_dv < DV)[None, :], other=0.0)
        if IEEE:
            acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision="ieee")
        else:
            acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
        m_i = m_new
    out = acc / l_i[:, None]
    tl.store(o_ptr + bh * S * DV + offs_m[:, None] * DV + offs_dv[None, :],
             out.to(o_ptr.dtype.element_ty), mask=m_ok[:, None] & (offs_dv < DV)[None, :])


def flash_attention(backend, q, k_t, v, mask=None, *, scale=1.0, divide=False):
    """Attention over the last two axes; leading axes broadcast like ``numpy.matmul``."""
    xp = backend.xp
    if q.ndim < 2 or k_t.ndim < 2 or v.ndim < 2:
        raise ValueError(f"attention needs rank >= 2 inputs, got q{list(q.shape)} "
                         f"k_t{list(k_t.shape)} v{list(v.shape)}")
    S, D = q.shape[-2:]
    D2, T = k_t.shape[-2:]
    T2, DV = v.shape[-2:]
    if D != D2 or T != T2:
        raise ValueError(f"attention shapes do not chain: q{list(q.shape)} k_t{list(k_t.shape)} "
                         f"v{list(v.shape)}")
    batch = tuple(xp.broadcast_shapes(q.shape[:-2], k_t.shape[:-2], v.shape[:-2]))
    bh = 1
    for d in batch:
        bh *= int(d)

    def flat(a, tail):
        return xp.ascontiguousarray(xp.broadcast_to(a, batch + tail)).reshape((bh,) + tail)

    q3, k3, v3 = flat(q, (S, D)), flat(k_t, (D, T)), flat(v, (T, DV))
    m3 = None
    if mask is not None:
        m3 = flat(mask.astype(q.dtype, copy=False), (S, T))
    out = xp.empty((bh, S, DV), dtype=q.dtype)
    if out.size == 0:
        return out.reshape(batch + (S, DV))
    small = backend.interpreted
    block_m = 16 if small else 64
    block_n = 16 if small else 64
    backend.launch(_flash_attention, ((S + block_m - 1) // block_m, bh), q3, k3, v3,
                   m3 if m3 is not None else q3, out, S, T, D, DV, float(scale),
                   DIVIDE=bool(divide), HAS_MASK=m3 is not None,
                   IEEE=q.dtype.name == "float32", BLOCK_M=block_m, BLOCK_N=block_n,
                   BLOCK_D=max(16, next_power_of_2(D)), BLOCK_DV=max(16, next_power_of_2(DV)))
    return out.reshape(batch + (S, DV))
