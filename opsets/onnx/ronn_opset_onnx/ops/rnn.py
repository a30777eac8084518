"""Recurrent layers: RNN, GRU and LSTM.

All three share one driver: X is [seq, batch, input] (``layout=1``: [batch, seq, input]), W/R/B
hold one slice per direction, ``sequence_lens`` stops each batch entry early (its later outputs
are 0 and its state is frozen), and the reverse direction walks each entry's valid steps
backwards. Float16/bfloat16 inputs are computed in float32 and cast back.
"""

from __future__ import annotations

import numpy as np

from ronn_core.kernel_spec import kernel


# --------------------------------------------------------------------------------------------
# Activation functions named by the ``activations`` attribute
# --------------------------------------------------------------------------------------------

def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


# name -> (function of (x, alpha, beta), default alpha or None, default beta or None)
_ACTIVATIONS = {
    "relu": (lambda x, a, b: np.maximum(x, 0), None, None),
    "tanh": (lambda x, a, b: np.tanh(x), None, None),
    "sigmoid": (lambda x, a, b: _sigmoid(x), None, None),
    "affine": (lambda x, a, b: a * x + b, 1.0, 0.0),
    "leakyrelu": (lambda x, a, b: np.where(x >= 0, x, a * x), 0.01, None),
    "thresholdedrelu": (lambda x, a, b: np.where(x > a, x, 0), 1.0, None),
    "scaledtanh": (lambda x, a, b: a * np.tanh(b * x), 1.0, 1.0),
    "hardsigmoid": (lambda x, a, b: np.clip(a * x + b, 0, 1), 0.2, 0.5),
    "elu": (lambda x, a, b: np.where(x >= 0, x, a * (np.exp(x) - 1)), 1.0, None),
    "softsign": (lambda x, a, b: x / (1 + np.abs(x)), None, None),
    "softplus": (lambda x, a, b: np.logaddexp(0, x), None, None),
}


def _activation_functions(activations, defaults, num_directions, alphas, betas, clip):
    """Per direction, the activations (one group of len(defaults)) bound to alpha/beta and clip.

    ``activation_alpha``/``activation_beta`` are consumed in order by the activations that take
    them, across both directions; missing values fall back to the ops' defaults.
    """
    group = len(defaults)
    names = list(activations) if activations else list(defaults) * num_directions
    if len(names) < group * num_directions:                    # one group given for both
        names = names * num_directions
    alphas, betas = list(alphas or []), list(betas or [])
    bound = []
    for name in names[:group * num_directions]:
        fn, alpha, beta = _ACTIVATIONS[name.lower()]
        if alpha is not None and alphas:
            alpha = alphas.pop(0)
        if beta is not None and betas:
            beta = betas.pop(0)

        def act(x, fn=fn, alpha=alpha, beta=beta):
            if clip is not None:
                x = np.clip(x, -clip, clip)
            return fn(x, alpha, beta)

        bound.append(act)
    return [bound[d * group:(d + 1) * group] for d in range(num_directions)]


# --------------------------------------------------------------------------------------------
# Shared driver
# --------------------------------------------------------------------------------------------

def _compute_dtype(dtype):
    return np.float64 if dtype == np.float64 else np.float32


def _scan(x, seq_lens, states, step, reverse):
    """Run ``step(x_t, states) -> states`` over time; returns (Y [seq, batch, hidden], states).

    States of batch entries past their sequence length stay as they were, and their Y rows are 0.
    """
    seq_len, batch = x.shape[:2]
    rows = np.arange(batch)
    y = np.zeros((seq_len, batch, states[0].shape[-1]), dtype=x.dtype)
    for t in range(seq_len):
        active = t < seq_lens
        index = np.where(active, seq_lens - 1 - t, 0) if reverse else np.full(batch, t)
        new = step(x[index, rows], states)
        states = tuple(np.where(active[:, None], n, s) for n, s in zip(new, states))
        y[index[active], rows[active]] = new[0][active]
    return y, states


def _recurrent(x, w, r, b, sequence_lens, initial_states, *, gates, direction, layout, cell):
    """Run ``cell`` over each direction; returns Y, then each final state, in ONNX layout.

    ``cell(d, w, r, b)`` returns the step function for direction ``d`` given that direction's
    weights; ``initial_states`` are optional [num_dir, batch, hidden] tensors (or None).
    """
    dtype = x.dtype
    cdt = _compute_dtype(dtype)
    x = x.astype(cdt)
    if layout:
        x = x.transpose(1, 0, 2)
        initial_states = [s if s is None else np.swapaxes(s, 0, 1) for s in initial_states]
    seq_len, batch = x.shape[:2]
    num_directions = w.shape[0]
    hidden = r.shape[-1]
    if b is None:
        b = np.zeros((num_directions, 2 * gates * hidden), dtype=cdt)
    lens = np.full(batch, seq_len, dtype=np.int64) if sequence_lens is None \
        else np.asarray(sequence_lens, dtype=np.int64)
    reverse_flags = {"forward": [False], "reverse": [True],
                     "bidirectional": [False, True]}[direction]

    ys, finals = [], []
    for d, reverse in enumerate(reverse_flags):
        states = tuple(np.zeros((batch, hidden), dtype=cdt) if s is None else s[d].astype(cdt)
                       for s in initial_states)
        step = cell(d, w[d].astype(cdt), r[d].astype(cdt), b[d].astype(cdt))
        y, states = _scan(x, lens, states, step, reverse)
        ys.append(y)
        finals.append(states)

    y = np.stack(ys, axis=1)                                    # [seq, num_dir, batch, hidden]
    final = [np.stack([f[i] for f in finals]) for i in range(len(initial_states))]
    if layout:
        y = y.transpose(2, 0, 1, 3)                             # [batch, seq, num_dir, hidden]
        final = [np.swapaxes(f, 0, 1) for f in final]           # [batch, num_dir, hidden]
    return (y.astype(dtype),) + tuple(f.astype(dtype) for f in final)


# --------------------------------------------------------------------------------------------
# RNN
# --------------------------------------------------------------------------------------------

@kernel("RNN", since=1)
@kernel("RNN", since=7)
@kernel("RNN", since=14)
@kernel("RNN", since=22)
def rnn(x, w, r, b=None, sequence_lens=None, initial_h=None, *, activation_alpha=None,
        activation_beta=None, activations=None, clip=None, direction="forward",
        hidden_size=None, layout=0, output_sequence=0):
    """Simple RNN: H_t = f(X_t W^T + H_{t-1} R^T + Wb + Rb)."""
    num_directions = w.shape[0]
    funcs = _activation_functions(activations, ["Tanh"], num_directions, activation_alpha,
                                  activation_beta, clip)

    def cell(d, w, r, b):
        (f,) = funcs[d]
        bias = b[:b.shape[0] // 2] + b[b.shape[0] // 2:]

        def step(xt, states):
            return (f(xt @ w.T + states[0] @ r.T + bias),)

        return step

    return _recurrent(x, w, r, b, sequence_lens, [initial_h], gates=1, direction=direction,
                      layout=layout, cell=cell)


# --------------------------------------------------------------------------------------------
# GRU
# --------------------------------------------------------------------------------------------

@kernel("GRU", since=1)
@kernel("GRU", since=3)
@kernel("GRU", since=7)
@kernel("GRU", since=14)
@kernel("GRU", since=22)
def gru(x, w, r, b=None, sequence_lens=None, initial_h=None, *, activation_alpha=None,
        activation_beta=None, activations=None, clip=None, direction="forward",
        hidden_size=None, layout=0, linear_before_reset=0, output_sequence=0):
    """GRU with gates z (update), r (reset), h (hidden), in that order in W, R and B."""
    if direction == "foward":                                   # GRU-1's misspelt default
        direction = "forward"
    num_directions = w.shape[0]
    funcs = _activation_functions(activations, ["Sigmoid", "Tanh"], num_directions,
                                  activation_alpha, activation_beta, clip)

    def cell(d, w, r, b):
        f, g = funcs[d]
        wz, wr, wh = np.split(w, 3)
        rz, rr, rh = np.split(r, 3)
        wbz, wbr, wbh, rbz, rbr, rbh = np.split(b, 6)

        def step(xt, states):
            h = states[0]
            z = f(xt @ wz.T + h @ rz.T + wbz + rbz)
            reset = f(xt @ wr.T + h @ rr.T + wbr + rbr)
            if linear_before_reset:
                candidate = g(xt @ wh.T + reset * (h @ rh.T + rbh) + wbh)
            else:
                candidate = g(xt @ wh.T + (reset * h) @ rh.T + rbh + wbh)
            return ((1 - z) * candidate + z * h,)

        return step

    return _recurrent(x, w, r, b, sequence_lens, [initial_h], gates=3, direction=direction,
                      layout=layout, cell=cell)


# --------------------------------------------------------------------------------------------
# LSTM
# --------------------------------------------------------------------------------------------

@kernel("LSTM", since=1)
@kernel("LSTM", since=7)
@kernel("LSTM", since=14)
@kernel("LSTM", since=22)
def lstm(x, w, r, b=None, sequence_lens=None, initial_h=None, initial_c=None, p=None, *,
         activation_alpha=None, activation_beta=None, activations=None, clip=None,
         direction="forward", hidden_size=None, input_forget=0, layout=0, output_sequence=0):
    """LSTM with gates i, o, f, c in W, R and B, and peepholes i, o, f in P."""
    num_directions = w.shape[0]
    hidden = r.shape[-1]
    # Clip bounds the gate pre-activations (f and g inputs); like onnxruntime, the cell state
    # fed to h is not clipped.
    defaults = ["Sigmoid", "Tanh", "Tanh"]
    clipped = _activation_functions(activations, defaults, num_directions, activation_alpha,
                                    activation_beta, clip)
    unclipped = _activation_functions(activations, defaults, num_directions, activation_alpha,
                                      activation_beta, None)
    funcs = [(f, g, h) for (f, g, _), (_, _, h) in zip(clipped, unclipped)]
    if p is None:
        p = np.zeros((num_directions, 3 * hidden), dtype=x.dtype)

    def cell(d, w, r, b):
        f, g, h = funcs[d]
        bias = b[:4 * hidden] + b[4 * hidden:]
        pi, po, pf = np.split(p[d].astype(w.dtype), 3)

        def step(xt, states):
            h_prev, c_prev = states
            gi, go, gf, gc = np.split(xt @ w.T + h_prev @ r.T + bias, 4, axis=-1)
            i = f(gi + pi * c_prev)
            forget = 1 - i if input_forget else f(gf + pf * c_prev)
            c = forget * c_prev + i * g(gc)
            o = f(go + po * c)
            return o * h(c), c

        return step

    return _recurrent(x, w, r, b, sequence_lens, [initial_h, initial_c], gates=4,
                      direction=direction, layout=layout, cell=cell)
