"""Transformer building blocks: Attention, RotaryEmbedding, RMSNormalization, SwiGLU,
CausalConvWithState and LinearAttention.

Float16/bfloat16 inputs are computed in float32 (float64 stays float64) and cast back.
"""

from __future__ import annotations

import numpy as np

from ronn_core.kernel_spec import kernel

# TensorProto element types accepted by stash_type / softmax_precision.
_FLOAT_TYPES = {1: np.float32, 10: np.float16, 11: np.float64}


def _compute_dtype(dtype):
    return np.float64 if np.dtype(dtype) == np.float64 else np.float32


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


# --------------------------------------------------------------------------------------------
# Attention
# --------------------------------------------------------------------------------------------

def _to_heads(x, num_heads):
    """(batch, seq, heads * size) -> (batch, heads, seq, size); 4-D input is returned as is."""
    if x.ndim == 4:
        return x
    batch, seq, hidden = x.shape
    return x.reshape(batch, seq, num_heads, hidden // num_heads).transpose(0, 2, 1, 3)


def _allowed_keys(batch, q_len, total_len, offset, is_causal, left_window, right_window,
                  nonpad_kv_seqlen):
    """Boolean (batch, 1, q_len, total_len): which keys each query may attend structurally.

    ``offset`` (per batch) is the absolute position of query 0: a query at index i sits at
    p = offset + i; causal keeps j <= p, windows keep p - left <= j <= p + right, and
    ``nonpad_kv_seqlen`` drops the padding keys j >= nonpad.
    """
    p = offset[:, None, None, None] + np.arange(q_len)[:, None]          # (batch, 1, q, 1)
    j = np.arange(total_len)                                              # (total,)
    allowed = np.ones((batch, 1, q_len, total_len), dtype=bool)
    if is_causal:
        allowed &= j <= p
    if left_window >= 0:
        allowed &= j >= p - left_window
    if right_window >= 0:
        allowed &= j <= p + right_window
    if nonpad_kv_seqlen is not None:
        allowed &= j < np.asarray(nonpad_kv_seqlen)[:, None, None, None]
    return allowed


def _mask_bias(attn_mask, total_len, dtype):
    """The attn_mask as an additive bias (bool False -> -inf); a short last dim pads with -inf."""
    if attn_mask.dtype == np.bool_:
        bias = np.where(attn_mask, 0, -np.inf).astype(dtype)
    else:
        bias = attn_mask.astype(dtype)
    short = total_len - bias.shape[-1]
    if short > 0:
        pad = [(0, 0)] * (bias.ndim - 1) + [(0, short)]
        bias = np.pad(bias, pad, constant_values=-np.inf)
    return bias


def _guarded_softmax(scores):
    """Softmax over the last axis; a row whose every score is -inf becomes all zeros."""
    row_max = scores.max(axis=-1, keepdims=True)
    empty = np.isneginf(row_max)
    e = np.exp(scores - np.where(empty, 0, row_max))
    total = e.sum(axis=-1, keepdims=True)
    return np.where(empty, 0, e / np.where(empty, 1, total))


def _attention(q, k, v, attn_mask, past_key, past_value, nonpad_kv_seqlen, *, is_causal,
               kv_num_heads, q_num_heads, qk_matmul_output_mode, scale, softcap,
               softmax_precision, left_window_size=-1, right_window_size=-1):
    dtype = q.dtype
    is_3d = q.ndim == 3
    cdt = _compute_dtype(dtype)
    if softmax_precision == 11:
        cdt = np.float64
    q = _to_heads(q, q_num_heads).astype(cdt)
    k = _to_heads(k, kv_num_heads)
    v = _to_heads(v, kv_num_heads)
    if past_key is not None:
        k = np.concatenate([past_key, k], axis=2)
        v = np.concatenate([past_value, v], axis=2)
    present_key, present_value = k, v
    k, v = k.astype(cdt), v.astype(cdt)

    batch, heads, q_len, head_size = q.shape
    total_len = k.shape[2]
    group = heads // k.shape[1]                  # GQA/MQA: each KV head serves `group` q heads
    k = np.repeat(k, group, axis=1)
    v = np.repeat(v, group, axis=1)

    scale = 1 / np.sqrt(head_size) if scale is None else scale
    root = np.sqrt(cdt(scale))
    qk = (q * root) @ np.swapaxes(k * root, -1, -2)          # (batch, heads, q_len, total_len)
    capped = softcap * np.tanh(qk / softcap) if softcap else qk

    if past_key is not None:
        offset = np.full(batch, past_key.shape[2])
    elif nonpad_kv_seqlen is not None:
        offset = np.asarray(nonpad_kv_seqlen, dtype=np.int64) - q_len
    else:
        offset = np.zeros(batch, dtype=np.int64)
    allowed = _allowed_keys(batch, q_len, total_len, offset, is_causal, left_window_size,
                            right_window_size, nonpad_kv_seqlen)
    bias = np.where(allowed, 0, -np.inf).astype(cdt)
    if attn_mask is not None:
        bias = bias + _mask_bias(attn_mask, total_len, cdt)
    biased = capped + bias

    probs = _guarded_softmax(biased)
    y = probs @ v                                             # (batch, heads, q_len, v_size)
    if is_3d:
        y = y.transpose(0, 2, 1, 3).reshape(batch, q_len, -1)
    qk_out = {0: qk, 1: capped, 2: biased, 3: probs}[qk_matmul_output_mode]
    return y.astype(dtype), present_key, present_value, qk_out.astype(dtype)


@kernel("Attention", since=23)
@kernel("Attention", since=24)
def attention(q, k, v, attn_mask=None, past_key=None, past_value=None, nonpad_kv_seqlen=None,
              *, is_causal=0, kv_num_heads=None, q_num_heads=None, qk_matmul_output_mode=0,
              scale=None, softcap=0.0, softmax_precision=None):
    """Scaled dot-product attention (MHA/GQA/MQA) with masks, softcap and a KV cache."""
    return _attention(q, k, v, attn_mask, past_key, past_value, nonpad_kv_seqlen,
                      is_causal=is_causal, kv_num_heads=kv_num_heads, q_num_heads=q_num_heads,
                      qk_matmul_output_mode=qk_matmul_output_mode, scale=scale,
                      softcap=softcap, softmax_precision=softmax_precision)


@kernel("Attention", since=25)
def attention_windowed(q, k, v, attn_mask=None, past_key=None, past_value=None,
                       nonpad_kv_seqlen=None, *, is_causal=0, kv_num_heads=None,
                       q_num_heads=None, qk_matmul_output_mode=0, scale=None, softcap=0.0,
                       softmax_precision=None, left_window_size=-1, right_window_size=-1):
    """Attention with optional left/right sliding-window limits on the visible keys."""
    return _attention(q, k, v, attn_mask, past_key, past_value, nonpad_kv_seqlen,
                      is_causal=is_causal, kv_num_heads=kv_num_heads, q_num_heads=q_num_heads,
                      qk_matmul_output_mode=qk_matmul_output_mode, scale=scale,
                      softcap=softcap, softmax_precision=softmax_precision,
                      left_window_size=left_window_size, right_window_size=right_window_size)


# --------------------------------------------------------------------------------------------
# RotaryEmbedding
# --------------------------------------------------------------------------------------------

@kernel("RotaryEmbedding", since=23)
def rotary_embedding(x, cos_cache, sin_cache, position_ids=None, *, interleaved=0,
                     num_heads=None, rotary_embedding_dim=0):
    """Rotate (pairs of) the first rotary_embedding_dim features of each head by position."""
    dtype = x.dtype
    cdt = _compute_dtype(dtype)
    if x.ndim == 4:                                     # (batch, heads, seq, size)
        h = x.transpose(0, 2, 1, 3)
    else:                                               # (batch, seq, heads * size)
        h = x.reshape(x.shape[0], x.shape[1], num_heads, -1)
    h = h.astype(cdt)                                   # (batch, seq, heads, size)
    dim = rotary_embedding_dim or h.shape[-1]
    if position_ids is not None:
        cos_cache, sin_cache = cos_cache[position_ids], sin_cache[position_ids]
    cos = cos_cache.astype(cdt)[:, :, None, :]          # (batch, seq, 1, dim / 2)
    sin = sin_cache.astype(cdt)[:, :, None, :]

    rotate = h[..., :dim]
    if interleaved:
        x1, x2 = rotate[..., 0::2], rotate[..., 1::2]
    else:
        x1, x2 = rotate[..., :dim // 2], rotate[..., dim // 2:]
    real = cos * x1 - sin * x2
    imag = sin * x1 + cos * x2
    if interleaved:
        rotated = np.stack([real, imag], axis=-1).reshape(rotate.shape)
    else:
        rotated = np.concatenate([real, imag], axis=-1)
    y = np.concatenate([rotated, h[..., dim:]], axis=-1)
    y = y.transpose(0, 2, 1, 3) if x.ndim == 4 else y.reshape(x.shape)
    return y.astype(dtype)


# --------------------------------------------------------------------------------------------
# RMSNormalization
# --------------------------------------------------------------------------------------------

@kernel("RMSNormalization", since=23)
def rms_normalization(x, scale, *, axis=-1, epsilon=1e-5, stash_type=1):
    """Y = X / sqrt(mean(X**2 over axes axis..-1) + epsilon) * scale."""
    dtype = x.dtype
    stash = np.dtype(_FLOAT_TYPES.get(stash_type, np.float32))
    if stash_type == 1:
        stash = np.promote_types(stash, _compute_dtype(dtype))
    axes = tuple(range(axis % x.ndim, x.ndim))
    xs = x.astype(stash)
    rms = np.sqrt((xs * xs).mean(axis=axes, keepdims=True) + stash.type(epsilon))
    normalized = (xs / rms).astype(dtype)
    return np.asarray(normalized * scale, dtype=dtype)


# --------------------------------------------------------------------------------------------
# SwiGLU
# --------------------------------------------------------------------------------------------

@kernel("SwiGLU", since=28)
def swiglu(a, b, *, alpha=1.0):
    """Y = A * sigmoid(alpha * A) * B."""
    dtype = a.dtype
    af = a.astype(_compute_dtype(dtype))
    return (af * _sigmoid(alpha * af) * b.astype(af.dtype)).astype(dtype)


# --------------------------------------------------------------------------------------------
# CausalConvWithState
# --------------------------------------------------------------------------------------------

@kernel("CausalConvWithState", since=27)
def causal_conv_with_state(x, weight, bias=None, past_state=None, *, activation="none"):
    """Depthwise causal 1-D conv over [past_state, X]; returns (output, last k-1 positions)."""
    dtype = x.dtype
    cdt = _compute_dtype(dtype)
    batch, channels, length = x.shape
    k = weight.shape[-1]
    if past_state is None:
        past_state = np.zeros((batch, channels, k - 1), dtype=dtype)
    padded = np.concatenate([past_state, x], axis=-1).astype(cdt)    # (batch, C, k - 1 + L)
    w = weight.reshape(channels, k).astype(cdt)
    y = sum(w[:, j, None] * padded[:, :, j:j + length] for j in range(k))
    if bias is not None:
        y = y + bias.astype(cdt)[:, None]
    if activation in ("silu", "swish"):
        y = y * _sigmoid(y)
    present = padded[:, :, padded.shape[-1] - (k - 1):]
    return y.astype(dtype), present.astype(dtype)


# --------------------------------------------------------------------------------------------
# LinearAttention
# --------------------------------------------------------------------------------------------

@kernel("LinearAttention", since=27)
def linear_attention(query, key, value, past_state=None, decay=None, beta=None, *,
                     chunk_size=64, kv_num_heads=None, q_num_heads=None, scale=0.0,
                     update_rule="gated_delta"):
    """Recurrent linear attention (linear, gated, delta, gated_delta) run token by token."""
    dtype = query.dtype
    cdt = _compute_dtype(dtype)
    batch, steps, _ = query.shape
    q = query.reshape(batch, steps, q_num_heads, -1).astype(cdt)      # (B, T, Hq, dk)
    k = key.reshape(batch, steps, kv_num_heads, -1).astype(cdt)       # (B, T, Hkv, dk)
    v = value.reshape(batch, steps, kv_num_heads, -1).astype(cdt)     # (B, T, Hkv, dv)
    d_k, d_v = q.shape[-1], v.shape[-1]
    scale = scale or 1 / np.sqrt(d_k)
    group = q_num_heads // kv_num_heads

    state = np.zeros((batch, kv_num_heads, d_k, d_v), dtype=cdt) if past_state is None \
        else past_state.astype(cdt)
    gated = update_rule in ("gated", "gated_delta")
    delta = update_rule in ("delta", "gated_delta")
    if gated:                       # log-space decay per key dim (B,T,Hkv,dk) or per head (…,1)
        g = np.exp(decay.astype(cdt).reshape(batch, steps, kv_num_heads, -1))
    if delta:                       # update rate per head (B,T,Hkv,1), or one for all heads
        b = np.broadcast_to(beta.astype(cdt).reshape(batch, steps, -1, 1),
                            (batch, steps, kv_num_heads, 1))

    out = np.empty((batch, steps, q_num_heads, d_v), dtype=cdt)
    for t in range(steps):
        kt, vt = k[:, t], v[:, t]
        if gated:
            state = g[:, t, :, :, None] * state                       # decay the old state
        if delta:
            vt = b[:, t] * (vt - np.einsum("bhkv,bhk->bhv", state, kt))
        state = state + kt[..., :, None] * vt[..., None, :]
        shared = np.repeat(state, group, axis=1)                      # (B, Hq, dk, dv)
        out[:, t] = scale * np.einsum("bhk,bhkv->bhv", q[:, t], shared)
    return out.reshape(batch, steps, -1).astype(dtype), state.astype(dtype)
