"""Split at constant sizes as views of the input, from index tuples made once per input rank
(np.split costs ~10 us a call; Inception's sibling-conv Splits run once per branch block)."""

from __future__ import annotations

import numpy as np

from ronn_core import kernel


@kernel("Split", since=2, provider="cpu", factory=True)
@kernel("Split", since=11, provider="cpu", factory=True)
@kernel("Split", since=13, provider="cpu", factory=True)
@kernel("Split", since=18, provider="cpu", factory=True)
def split(build):
    """Split at constant sizes as views, from slices made once (np.split costs ~10 us a
    call); sizes fed at run time, equal parts and anything irregular go to the reference."""
    reference = build.fallback()
    node, a = build.node, build.attributes
    sizes = a.get("split") if node.version < 13 else \
        (build.constants[1] if len(build.constants) > 1 else None)
    if sizes is None or (node.version >= 13 and len(node.inputs) > 1 and node.inputs[1] and
                         build.constants[1] is None):
        return reference
    sizes = [int(s) for s in np.asarray(sizes).reshape(-1)]
    if len(sizes) != len(node.outputs) or any(s < 0 for s in sizes):
        return reference
    axis, total = int(a.get("axis", 0)), sum(sizes)
    bounds = list(zip(np.cumsum([0] + sizes[:-1]).tolist(), np.cumsum(sizes).tolist()))
    cuts: dict[int, tuple] = {}                  # input rank -> one index tuple per output

    def run(x, *_):
        if not isinstance(x, np.ndarray) or not -x.ndim <= axis < x.ndim or \
                x.shape[axis] != total:
            return reference(x, *_)
        index = cuts.get(x.ndim)
        if index is None:
            lead = (slice(None),) * (axis % x.ndim)
            index = cuts[x.ndim] = tuple(lead + (slice(b, e),) for b, e in bounds)
        return tuple(x[i] for i in index)

    return run
