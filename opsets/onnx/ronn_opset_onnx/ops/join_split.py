"""Joining, splitting and repeating tensors: Concat, Split, Tile, Expand."""

from __future__ import annotations

import numpy as np

from ronn_core.kernel_spec import kernel


@kernel("Concat", since=1)
def concat_v1(*inputs, axis=1):
    """Concat (opset 1): join the inputs along ``axis`` (default 1)."""
    return np.concatenate(inputs, axis=axis)


@kernel("Concat", since=4)
@kernel("Concat", since=11)
@kernel("Concat", since=13)
def concat(*inputs, axis):
    """Join the inputs along ``axis`` (negative counts from the end)."""
    return np.concatenate(inputs, axis=axis)


def _split_at(input, sizes, axis: int) -> tuple[np.ndarray, ...]:
    """Cut ``input`` along ``axis`` into consecutive pieces of the given sizes."""
    sizes = [int(s) for s in sizes]
    if sum(sizes) != input.shape[axis]:
        raise ValueError(f"Split: sizes {sizes} do not add up to dim {input.shape[axis]}")
    return tuple(np.split(input, np.cumsum(sizes)[:-1], axis=axis))


def _output_count(ctx) -> int:
    """How many outputs the Split node has (its equal parts), from the kernel context."""
    if ctx is None:
        raise ValueError("Split without 'split' sizes needs the node (ctx) to count its outputs")
    return len(ctx.node.outputs)


@kernel("Split", since=1, context=True)
@kernel("Split", since=2, context=True)
@kernel("Split", since=11, context=True)
def split_v1(input, split_input=None, *, axis=0, split=None, ctx=None):
    """Split (opsets 1-11): cut along ``axis`` at the ``split`` sizes, else into equal parts.

    Equal parts are one per node output (``ctx.node.outputs``). Opset 1 also took the sizes as
    an optional second input.
    """
    sizes = split if split is not None else split_input
    if sizes is not None and len(np.asarray(sizes).reshape(-1)):
        return _split_at(input, np.asarray(sizes).reshape(-1), axis)
    n = _output_count(ctx)
    return tuple(np.split(input, n, axis=axis))


@kernel("Split", since=13, context=True)
def split_v13(input, split=None, *, axis=0, ctx=None):
    """Split (opset 13): cut along ``axis`` at the ``split`` input sizes, else into equal parts."""
    if split is not None:
        return _split_at(input, np.asarray(split).reshape(-1), axis)
    return tuple(np.split(input, _output_count(ctx), axis=axis))


@kernel("Split", since=18)
def split_v18(input, split=None, *, axis=0, num_outputs=None):
    """Cut along ``axis`` at the ``split`` sizes, or into ``num_outputs`` parts.

    With ``num_outputs`` every part has ceil(dim / num_outputs) elements but the last, which is
    smaller when the dim does not divide evenly.
    """
    if split is not None:
        return _split_at(input, np.asarray(split).reshape(-1), axis)
    if num_outputs is None:
        raise ValueError("Split-18 needs the 'split' input or the 'num_outputs' attribute")
    dim = input.shape[axis]
    chunk = -(-dim // num_outputs)
    sizes = [chunk] * (num_outputs - 1) + [dim - chunk * (num_outputs - 1)]
    if sizes[-1] < 0:
        raise ValueError(f"Split: cannot cut dim {dim} into {num_outputs} parts of {chunk}")
    return _split_at(input, sizes, axis)


@kernel("Tile", since=1)
def tile_v1(input, tiles, axis):
    """Tile (opset 1): repeat the input ``tiles`` times along the single axis ``axis``."""
    reps = [1] * input.ndim
    reps[int(np.asarray(axis).reshape(-1)[0])] = int(np.asarray(tiles).reshape(-1)[0])
    return np.tile(input, reps)


@kernel("Tile", since=6)
@kernel("Tile", since=13)
def tile(input, repeats):
    """Repeat the input ``repeats[i]`` times along each axis i."""
    reps = [int(r) for r in np.asarray(repeats).reshape(-1)]
    if len(reps) != input.ndim:
        raise ValueError(f"Tile: {len(reps)} repeats for a rank-{input.ndim} input")
    return np.tile(input, reps)


@kernel("Expand", since=8)
@kernel("Expand", since=13)
def expand(input, shape):
    """Broadcast the input against ``shape`` (bidirectionally: a 1 in shape keeps the input dim)."""
    target = np.broadcast_shapes(input.shape, tuple(int(s) for s in np.asarray(shape).reshape(-1)))
    return np.broadcast_to(input, target)
