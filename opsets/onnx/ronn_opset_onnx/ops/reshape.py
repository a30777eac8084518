"""Shape-changing ops that keep the element order: Reshape, Flatten, Squeeze, Unsqueeze."""

from __future__ import annotations

import numpy as np

from ronn_core.kernel_spec import kernel


def _axes_list(axes) -> list[int] | None:
    """Axes given as an attribute (list) or an input (1-D int64 tensor) as a list of ints."""
    return None if axes is None else [int(a) for a in np.asarray(axes).reshape(-1)]


def _reshape_target(in_shape: tuple[int, ...], shape, allowzero: int) -> tuple[int, ...]:
    """The output shape: 0 copies the input dim (unless allowzero), one -1 is inferred."""
    dims = [int(s) for s in np.asarray(shape).reshape(-1)]
    if not allowzero:
        dims = [in_shape[i] if d == 0 else d for i, d in enumerate(dims)]
    if dims.count(-1) > 1:
        raise ValueError(f"Reshape: at most one -1 in shape {dims}")
    if -1 in dims:
        known = int(np.prod([d for d in dims if d != -1]))
        total = int(np.prod(in_shape))
        if known == 0 or total % known:
            raise ValueError(f"Reshape: cannot infer -1 reshaping {in_shape} to {dims}")
        dims[dims.index(-1)] = total // known
    return tuple(dims)


@kernel("Reshape", since=1)
def reshape_v1(data, *, shape=None, consumed_inputs=None):
    """Reshape (opset 1): the target shape is the ``shape`` attribute; 0 copies, -1 infers."""
    return data.reshape(_reshape_target(data.shape, shape, 0))


@kernel("Reshape", since=5)
@kernel("Reshape", since=14)
def reshape(data, shape, *, allowzero=0):
    """Reshape to ``shape``: 0 copies the input dim (an empty dim if allowzero), -1 is inferred."""
    return data.reshape(_reshape_target(data.shape, shape, allowzero))


@kernel("Flatten", since=1)
@kernel("Flatten", since=9)
@kernel("Flatten", since=11)
@kernel("Flatten", since=13)
def flatten(input, *, axis=1):
    """Flatten to 2-D: dims before ``axis`` form the rows, the rest the columns."""
    axis = axis + input.ndim if axis < 0 else axis
    rows = int(np.prod(input.shape[:axis]))
    return input.reshape(rows, int(np.prod(input.shape[axis:])))


def _squeeze(data, axes):
    if axes is None:
        return np.squeeze(data)
    axes = tuple(a + data.ndim if a < 0 else a for a in axes)
    for a in axes:
        if data.shape[a] != 1:
            raise ValueError(f"Squeeze: axis {a} of shape {data.shape} is not 1")
    return np.squeeze(data, axis=axes)


@kernel("Squeeze", since=1)
@kernel("Squeeze", since=11)
def squeeze_v1(data, *, axes=None):
    """Squeeze (opsets 1-11): remove the size-1 ``axes`` (attribute), or every size-1 dim."""
    return _squeeze(data, _axes_list(axes))


@kernel("Squeeze", since=13)
def squeeze(data, axes=None):
    """Remove the size-1 dims listed in the ``axes`` input, or every size-1 dim."""
    return _squeeze(data, _axes_list(axes))


def _unsqueeze(data, axes):
    out_rank = data.ndim + len(axes)
    axes = sorted(a + out_rank if a < 0 else a for a in axes)
    if len(set(axes)) != len(axes) or any(not 0 <= a < out_rank for a in axes):
        raise ValueError(f"Unsqueeze: bad axes {axes} for output rank {out_rank}")
    return np.expand_dims(data, tuple(axes))


@kernel("Unsqueeze", since=1)
@kernel("Unsqueeze", since=11)
def unsqueeze_v1(data, *, axes):
    """Unsqueeze (opsets 1-11): insert size-1 dims at ``axes`` (attribute, output positions)."""
    return _unsqueeze(data, _axes_list(axes))


@kernel("Unsqueeze", since=13)
def unsqueeze(data, axes):
    """Insert size-1 dims at the ``axes`` input (positions in the output)."""
    return _unsqueeze(data, _axes_list(axes))
