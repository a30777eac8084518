"""ronn-example: a third-party RONN plugin, written as the template to copy.

It adds the custom domain ``com.example`` with two operators used by transformer decoders:

- ``SwiGLU(X, gate) = X * sigmoid(X) * gate`` (the gated SiLU of LLaMA-style MLPs);
- ``RotaryEmbedding(X, position_ids?)``: rotary position embedding (RoPE) over
  ``X[batch, seq, heads, head_dim]``.

Modules: ``schemas`` (the operator contracts), ``kernels`` (reference numpy kernels), ``fast``
(a numba kernel for SwiGLU on the cpu provider), ``passes`` (a pass that fuses the standard-op
pattern into SwiGLU), ``plugin`` (the hooks RONN calls; the entry point), ``demo`` (example models).
"""

DOMAIN = "com.example"
__version__ = "0.1.0"
