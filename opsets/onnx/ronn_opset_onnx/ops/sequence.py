"""Sequence ops: building, indexing and editing lists of tensors, and splitting/joining them.

A sequence is a Python list of arrays. Kernels never modify a list they receive; every edit
returns a new list.
"""

from __future__ import annotations

import numpy as np

from ronn_core.kernel_spec import kernel


def _position(position, length: int, *, allow_end: bool) -> int:
    """A (possibly negative) position as an index in ``[0, length)`` (``[0, length]`` if
    ``allow_end``, for inserting at the end); out of range raises IndexError."""
    pos = int(np.asarray(position).reshape(()))
    high = length if allow_end else length - 1
    if not -length <= pos <= high:
        raise IndexError(f"sequence position {pos} is out of range for length {length}")
    return pos + length if pos < 0 else pos


@kernel("SequenceEmpty", since=11)
def sequence_empty(*, dtype=None):
    """An empty sequence (``dtype`` names its element type, default float32)."""
    return []


@kernel("SequenceConstruct", since=11)
def sequence_construct(*inputs):
    """A sequence holding the inputs, in order."""
    return list(inputs)


@kernel("SequenceInsert", since=11)
def sequence_insert(input_sequence, tensor, position=None):
    """A copy of the sequence with ``tensor`` inserted before ``position`` (default: at the end).

    Negative positions count from the end; ``position = length`` appends.
    """
    pos = len(input_sequence) if position is None else \
        _position(position, len(input_sequence), allow_end=True)
    return [*input_sequence[:pos], tensor, *input_sequence[pos:]]


@kernel("SequenceAt", since=11)
def sequence_at(input_sequence, position):
    """The element at ``position`` (negative counts from the end)."""
    return input_sequence[_position(position, len(input_sequence), allow_end=False)]


@kernel("SequenceErase", since=11)
def sequence_erase(input_sequence, position=None):
    """A copy of the sequence without the element at ``position`` (default: the last one)."""
    pos = len(input_sequence) - 1 if position is None else \
        _position(position, len(input_sequence), allow_end=False)
    if pos < 0:
        raise IndexError("SequenceErase: the sequence is empty")
    return [*input_sequence[:pos], *input_sequence[pos + 1:]]


@kernel("SequenceLength", since=11)
def sequence_length(input_sequence):
    """The number of elements, as an int64 scalar."""
    return np.array(len(input_sequence), dtype=np.int64)


@kernel("SplitToSequence", since=11)
def split_to_sequence(input, split=None, *, axis=0, keepdims=1):
    """Cut ``input`` along ``axis`` into a sequence of pieces.

    ``split`` absent: pieces of size 1, with the axis dropped unless ``keepdims``. A scalar
    ``split``: pieces of that size (the last may be smaller). A 1-D ``split``: those sizes.
    """
    dim = input.shape[axis]
    if split is None:
        pieces = np.split(input, dim, axis=axis)
        return pieces if keepdims else [np.squeeze(p, axis=axis) for p in pieces]
    split = np.asarray(split)
    if split.ndim == 0:
        size = int(split)
        if size <= 0:
            raise ValueError(f"SplitToSequence: split size must be positive, got {size}")
        cuts = list(range(size, dim, size))
    else:
        sizes = [int(s) for s in split]
        if sum(sizes) != dim:
            raise ValueError(f"SplitToSequence: sizes {sizes} do not add up to dim {dim}")
        cuts = list(np.cumsum(sizes)[:-1])
    return np.split(input, cuts, axis=axis)


@kernel("ConcatFromSequence", since=11)
def concat_from_sequence(input_sequence, *, axis, new_axis=0):
    """Join the elements along ``axis``, or stack them along a new ``axis`` if ``new_axis``.

    With ``new_axis`` the axis may also be ``rank`` (or ``-rank-1``): a new last (first) axis.
    """
    if not input_sequence:
        raise ValueError("ConcatFromSequence: the sequence is empty")
    if new_axis:
        return np.stack(input_sequence, axis=axis)
    return np.concatenate(input_sequence, axis=axis)


@kernel("SequenceMap", since=17)
def sequence_map(input_sequence, *additional_inputs, body):
    """Run ``body`` on each element of the sequence; collect each body output into a sequence.

    An additional input that is a sequence is walked along with the first (same length); a
    tensor is passed unchanged to every call.
    """
    n = len(input_sequence)
    for extra in additional_inputs:
        if isinstance(extra, list) and len(extra) != n:
            raise ValueError(f"SequenceMap: sequence inputs have lengths {n} and {len(extra)}")
    results: list[list] = [[] for _ in body.output_names]
    for i in range(n):
        args = [extra[i] if isinstance(extra, list) else extra for extra in additional_inputs]
        for acc, value in zip(results, body(input_sequence[i], *args)):
            acc.append(value)
    return tuple(results)
