"""Axis permutations: Transpose, DepthToSpace, SpaceToDepth."""

from __future__ import annotations

import numpy as np

from ronn_core.kernel_spec import kernel


@kernel("Transpose", since=1)
@kernel("Transpose", since=13)
def transpose(data, *, perm=None):
    """Transpose: permute the axes (reversed when perm is absent)."""
    return np.transpose(data, perm)


@kernel("DepthToSpace", since=1)
@kernel("DepthToSpace", since=11)
@kernel("DepthToSpace", since=13)
def depth_to_space(input, *, blocksize, mode="DCR"):
    """Move channel blocks into bs x bs spatial blocks: NCHW -> N, C/bs^2, H*bs, W*bs.

    DCR reads the channel as (depth-row, depth-col, channel); CRD as (channel, row, col).
    """
    n, c, h, w = input.shape
    bs = blocksize
    if mode == "DCR":
        x = input.reshape(n, bs, bs, c // bs**2, h, w).transpose(0, 3, 4, 1, 5, 2)
    elif mode == "CRD":
        x = input.reshape(n, c // bs**2, bs, bs, h, w).transpose(0, 1, 4, 2, 5, 3)
    else:
        raise ValueError(f"DepthToSpace: unknown mode {mode!r}")
    return x.reshape(n, c // bs**2, h * bs, w * bs)


@kernel("SpaceToDepth", since=1)
@kernel("SpaceToDepth", since=13)
@kernel("SpaceToDepth", since=28)
def space_to_depth(input, *, blocksize, mode="DCR"):
    """Move bs x bs spatial blocks into channels: NCHW -> N, C*bs^2, H/bs, W/bs.

    The inverse of DepthToSpace in the same mode (opset 28 added CRD; before it, DCR only).
    """
    n, c, h, w = input.shape
    bs = blocksize
    x = input.reshape(n, c, h // bs, bs, w // bs, bs)
    if mode == "DCR":
        x = x.transpose(0, 3, 5, 1, 2, 4)
    elif mode == "CRD":
        x = x.transpose(0, 1, 3, 5, 2, 4)
    else:
        raise ValueError(f"SpaceToDepth: unknown mode {mode!r}")
    return x.reshape(n, c * bs * bs, h // bs, w // bs)
