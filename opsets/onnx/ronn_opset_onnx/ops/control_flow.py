"""Control flow: If, Loop and Scan, whose graph attributes arrive as compiled callables.

A graph attribute is a callable ``body(*inputs) -> list of outputs`` with the enclosing scope
already bound; a kernel passes only the subgraph's formal inputs.
"""

from __future__ import annotations

import numpy as np

from ronn_core.kernel_spec import kernel


def _truth(cond) -> bool:
    """The boolean value of a condition tensor (a scalar or a one-element tensor)."""
    cond = np.asarray(cond)
    if cond.size != 1:
        raise ValueError(f"condition must hold exactly one element, got shape {cond.shape}")
    return bool(cond.reshape(()))


def _stack(slices: list, axis: int = 0) -> np.ndarray:
    """Stack per-iteration scan output slices along a new ``axis``; no slices gives shape (0,).

    With zero iterations the element shape and type are unknown, so the result is an empty
    float32 vector (what onnxruntime returns when the body does not declare a shape either).
    """
    if not slices:
        return np.zeros((0,), dtype=np.float32)
    return np.stack([np.asarray(s) for s in slices], axis=axis)


# --- If --------------------------------------------------------------------------------------

@kernel("If", since=1)
@kernel("If", since=11)
@kernel("If", since=13)
@kernel("If", since=16)
@kernel("If", since=19)
@kernel("If", since=21)
@kernel("If", since=23)
def if_(cond, *, then_branch, else_branch):
    """Run ``then_branch`` when ``cond`` is true, else ``else_branch``; return its outputs.

    Versions differ only in the value types a branch may produce (sequences from 13, optionals
    from 16, more element types later).
    """
    branch = then_branch if _truth(cond) else else_branch
    return tuple(branch())


# --- Loop ------------------------------------------------------------------------------------

@kernel("Loop", since=1)
@kernel("Loop", since=11)
@kernel("Loop", since=13)
@kernel("Loop", since=16)
@kernel("Loop", since=19)
@kernel("Loop", since=21)
@kernel("Loop", since=23)
def loop(max_trip_count, cond, *initial, body):
    """Run ``body`` while the trip count ``M`` lasts and ``cond`` holds; carry values across.

    ``body(i, cond, *carried) -> (cond, *carried, *scan_slices)``. An absent ``M`` means no
    limit; an absent ``cond`` starts the loop as true. Outputs are the final carried values,
    then each scan output stacked along a new axis 0.

    The spec's pseudocode ignores the body's condition output when ``cond`` is absent;
    onnxruntime stops on it anyway, and so does this kernel, so both runtimes agree.
    """
    limit = None if max_trip_count is None else int(np.asarray(max_trip_count).reshape(()))
    keep_going = True if cond is None else _truth(cond)
    carried = list(initial)
    n_carried = len(carried)
    scans: list[list] | None = None
    i = 0
    while keep_going and (limit is None or i < limit):
        outs = body(np.array(i, dtype=np.int64), np.array(keep_going), *carried)
        keep_going = _truth(outs[0])
        carried = list(outs[1:1 + n_carried])
        if scans is None:
            scans = [[] for _ in outs[1 + n_carried:]]
        for acc, value in zip(scans, outs[1 + n_carried:]):
            acc.append(value)
        i += 1
    n_scans = len(body.output_names) - 1 - n_carried
    stacked = [_stack(acc) for acc in scans] if scans is not None else \
        [_stack([]) for _ in range(n_scans)]
    return tuple(carried + stacked)


# --- Scan ------------------------------------------------------------------------------------

def _scan_once(body, states: list, sequences: list[np.ndarray], reverse: list[bool],
               length: int) -> tuple[list, list[list]]:
    """Run ``body`` over ``length`` steps of each sequence (axis 0), carrying ``states``.

    Returns the final states and, per scan output, the list of its per-step slices.
    """
    n_states = len(states)
    outputs: list[list] = [[] for _ in range(len(body.output_names) - n_states)]
    for t in range(length):
        slices = [seq[length - 1 - t] if rev else seq[t] for seq, rev in zip(sequences, reverse)]
        outs = body(*states, *slices)
        states = list(outs[:n_states])
        for acc, value in zip(outputs, outs[n_states:]):
            acc.append(value)
    return states, outputs


@kernel("Scan", since=8)
def scan_v8(sequence_lens, *inputs, body, num_scan_inputs, directions=None):
    """Scan (opset 8): a batched scan; every input has a leading batch axis, then the sequence.

    Each batch entry runs on its own: states ``[batch, ...]``, scan inputs ``[batch, seq, ...]``,
    scan outputs ``[batch, seq, ...]``. ``sequence_lens`` (optional, per batch entry) shortens a
    sequence; the scan outputs past its end are zeros. ``directions[j] = 1`` reads input j
    backwards (from its last valid step).
    """
    n_states = len(inputs) - num_scan_inputs
    states, scan_inputs = list(inputs[:n_states]), list(inputs[n_states:])
    reverse = [bool(d) for d in (directions or [0] * num_scan_inputs)]
    batch = (states or scan_inputs)[0].shape[0]
    max_len = scan_inputs[0].shape[1] if scan_inputs else 0
    lens = [max_len] * batch if sequence_lens is None else \
        [int(n) for n in np.asarray(sequence_lens).reshape(-1)]
    final_states, scan_outputs = [], []
    for b in range(batch):
        s, outs = _scan_once(body, [x[b] for x in states], [x[b] for x in scan_inputs],
                             reverse, lens[b])
        final_states.append(s)
        scan_outputs.append(outs)
    results = [np.stack([s[k] for s in final_states]) for k in range(n_states)]
    for k in range(len(body.output_names) - n_states):
        per_batch = [_pad_steps(outs[k], max_len) for outs in scan_outputs]
        results.append(np.stack(per_batch))
    return tuple(results)


def _pad_steps(slices: list, length: int) -> np.ndarray:
    """Stack one batch entry's scan output slices and pad with zeros up to ``length`` steps."""
    stacked = _stack(slices)
    if stacked.shape[0] < length and slices:
        pad = np.zeros((length - stacked.shape[0], *stacked.shape[1:]), dtype=stacked.dtype)
        stacked = np.concatenate([stacked, pad])
    return stacked


@kernel("Scan", since=9)
@kernel("Scan", since=11)
@kernel("Scan", since=16)
@kernel("Scan", since=19)
@kernel("Scan", since=21)
@kernel("Scan", since=23)
def scan(*inputs, body, num_scan_inputs, scan_input_axes=None, scan_input_directions=None,
         scan_output_axes=None, scan_output_directions=None):
    """Run ``body`` once per slice of the scan inputs, carrying state; stack the scan outputs.

    ``body(*states, *slices) -> (*states, *scan_slices)``. Scan input j is sliced along
    ``scan_input_axes[j]`` (default 0), backwards when ``scan_input_directions[j] = 1``. Scan
    output k stacks its slices along ``scan_output_axes[k]`` (default 0; negative counts from
    the end of the stacked rank), in reverse order when ``scan_output_directions[k] = 1``.
    Opset 11 allowed negative axes; later versions only add element types.
    """
    n_states = len(inputs) - num_scan_inputs
    states, scan_inputs = list(inputs[:n_states]), list(inputs[n_states:])
    in_axes = scan_input_axes or [0] * num_scan_inputs
    reverse = [bool(d) for d in (scan_input_directions or [0] * num_scan_inputs)]
    sequences = [np.moveaxis(x, axis, 0) for x, axis in zip(scan_inputs, in_axes)]
    lengths = {seq.shape[0] for seq in sequences}
    if len(lengths) > 1:
        raise ValueError(f"Scan: scan inputs have different sequence lengths {sorted(lengths)}")
    length = lengths.pop() if lengths else 0
    states, slices = _scan_once(body, states, sequences, reverse, length)
    n_outputs = len(slices)
    out_axes = scan_output_axes or [0] * n_outputs
    out_reverse = scan_output_directions or [0] * n_outputs
    results = list(states)
    for acc, axis, rev in zip(slices, out_axes, out_reverse):
        if rev:
            acc = acc[::-1]
        stacked = _stack(acc)
        results.append(np.moveaxis(stacked, 0, axis) if acc else stacked)
    return tuple(results)
