"""Optimizer ops of the ai.onnx.preview.training domain: Adagrad, Adam, Momentum.

Each takes a learning rate R, an update count T, then n tensors X, their gradients G and their
optimizer states, and returns the updated X's followed by the updated states.
(Gradient is not implemented: it needs autodiff of a subgraph, not a kernel.)
"""

from __future__ import annotations

import numpy as np

from ronn_core.kernel_spec import kernel

TRAINING = "ai.onnx.preview.training"


def _groups(tensors, n_groups: int) -> list[list[np.ndarray]]:
    """Split the variadic inputs into n_groups equal runs (X's, G's, states...)."""
    if len(tensors) % n_groups:
        raise ValueError(f"expected a multiple of {n_groups} optimized tensors, got {len(tensors)}")
    n = len(tensors) // n_groups
    return [list(tensors[i * n:(i + 1) * n]) for i in range(n_groups)]


@kernel("Adagrad", domain=TRAINING, since=1)
def adagrad(r, t, *tensors, decay_factor=0.0, epsilon=0.0, norm_coefficient=0.0):
    """X -= r * G' / (sqrt(H + G'^2) + eps), r = R / (1 + T * decay), G' = G + norm * X."""
    xs, gs, hs = _groups(tensors, 3)
    rate = float(r) / (1 + float(t) * decay_factor)
    new_x, new_h = [], []
    for x, g, h in zip(xs, gs, hs):
        g_reg = norm_coefficient * x + g
        h_new = h + g_reg * g_reg
        new_x.append((x - rate * g_reg / (np.sqrt(h_new) + epsilon)).astype(x.dtype))
        new_h.append(h_new.astype(h.dtype))
    return tuple(new_x + new_h)


@kernel("Momentum", domain=TRAINING, since=1)
def momentum(r, t, *tensors, alpha, beta, mode, norm_coefficient):
    """V = alpha V + beta G' (beta is 1 on the first update); X -= R V (standard) or R (G' + alpha V)."""
    if mode not in ("standard", "nesterov"):
        raise ValueError(f"Momentum: mode must be standard or nesterov, not {mode!r}")
    xs, gs, vs = _groups(tensors, 3)
    rate = float(r)
    beta_t = beta if int(t) > 0 else 1.0
    new_x, new_v = [], []
    for x, g, v in zip(xs, gs, vs):
        g_reg = norm_coefficient * x + g
        v_new = alpha * v + beta_t * g_reg
        step = v_new if mode == "standard" else g_reg + alpha * v_new
        new_x.append((x - rate * step).astype(x.dtype))
        new_v.append(v_new.astype(v.dtype))
    return tuple(new_x + new_v)


@kernel("Adam", domain=TRAINING, since=1)
def adam(r, t, *tensors, alpha=0.9, beta=0.999, epsilon=1e-6, norm_coefficient=0.0,
         norm_coefficient_post=0.0):
    """Adam with bias-corrected rate and L2 terms before (norm_coefficient) and after the step."""
    xs, gs, vs, hs = _groups(tensors, 4)
    step_count = int(t)
    rate = float(r)
    if step_count > 0:
        rate *= np.sqrt(1 - beta ** step_count) / (1 - alpha ** step_count)
    new_x, new_v, new_h = [], [], []
    for x, g, v, h in zip(xs, gs, vs, hs):
        g_reg = norm_coefficient * x + g
        v_new = alpha * v + (1 - alpha) * g_reg
        h_new = beta * h + (1 - beta) * g_reg * g_reg
        x_new = (1 - norm_coefficient_post) * (x - rate * v_new / (np.sqrt(h_new) + epsilon))
        new_x.append(x_new.astype(x.dtype))
        new_v.append(v_new.astype(v.dtype))
        new_h.append(h_new.astype(h.dtype))
    return tuple(new_x + new_v + new_h)
