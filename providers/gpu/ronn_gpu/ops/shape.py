"""Data movement: Reshape, Flatten, Transpose, Concat, Squeeze, Unsqueeze, Identity, Dropout."""

from __future__ import annotations

import numpy as np

from ronn_gpu.ops.common import backend_of, gpu_kernel, host_constant, host_ints


def reshape_target(shape: tuple, target: list[int], allowzero: int) -> tuple:
    out = [shape[i] if (d == 0 and not allowzero) else d for i, d in enumerate(target)]
    if -1 in out:
        known = int(np.prod([d for d in out if d != -1]))
        total = int(np.prod(shape))
        out[out.index(-1)] = total // known if known else 0
    return tuple(out)


@gpu_kernel("Reshape", since=5)
@gpu_kernel("Reshape", since=13)
@gpu_kernel("Reshape", since=14)
@gpu_kernel("Reshape", since=19)
@gpu_kernel("Reshape", since=21)
def reshape(build):
    backend = backend_of(build)
    allowzero = build.attributes.get("allowzero", 0)
    const = host_constant(build, 1)
    fixed = None if const is None else [int(v) for v in np.asarray(const).reshape(-1)]

    def run(x, shape):
        target = fixed if fixed is not None else host_ints(backend, shape)
        return x.reshape(reshape_target(x.shape, target, allowzero))
    return run


@gpu_kernel("Flatten", since=1)
@gpu_kernel("Flatten", since=9)
@gpu_kernel("Flatten", since=11)
@gpu_kernel("Flatten", since=13)
@gpu_kernel("Flatten", since=21)
def flatten(build):
    axis = build.attributes.get("axis", 1)

    def run(x):
        a = axis % x.ndim if x.ndim else 0
        lead = int(np.prod(x.shape[:a])) if a else 1
        return x.reshape(lead, -1)
    return run


@gpu_kernel("Transpose", since=1)
@gpu_kernel("Transpose", since=13)
@gpu_kernel("Transpose", since=21)
def transpose(build):
    xp = backend_of(build).xp
    perm = build.attributes.get("perm")
    return lambda x: xp.ascontiguousarray(xp.transpose(x, perm))


@gpu_kernel("Concat", since=4)
@gpu_kernel("Concat", since=11)
@gpu_kernel("Concat", since=13)
def concat(build):
    xp = backend_of(build).xp
    axis = build.attributes.get("axis", 0)
    return lambda *xs: xp.concatenate([x for x in xs if x is not None], axis=axis)


def _axes(build, backend):
    if build.node.version < 13:
        return lambda _: build.attributes.get("axes")
    const = host_constant(build, 1)
    if const is not None:
        fixed = [int(v) for v in np.asarray(const).reshape(-1)]
        return lambda _: fixed
    return lambda value: None if value is None else host_ints(backend, value)


@gpu_kernel("Squeeze", since=1)
@gpu_kernel("Squeeze", since=11)
@gpu_kernel("Squeeze", since=13)
@gpu_kernel("Squeeze", since=21)
def squeeze(build):
    backend = backend_of(build)
    axes_of = _axes(build, backend)

    def run(x, axes=None):
        axes = axes_of(axes)
        if axes is None:
            return x.reshape(tuple(d for d in x.shape if d != 1))
        return backend.xp.squeeze(x, axis=tuple(a % x.ndim for a in axes))
    return run


@gpu_kernel("Unsqueeze", since=1)
@gpu_kernel("Unsqueeze", since=11)
@gpu_kernel("Unsqueeze", since=13)
@gpu_kernel("Unsqueeze", since=21)
def unsqueeze(build):
    backend = backend_of(build)
    axes_of = _axes(build, backend)

    def run(x, axes=None):
        axes = axes_of(axes)
        rank = x.ndim + len(axes)
        shape = list(x.shape)
        for a in sorted(a % rank for a in axes):
            shape.insert(a, 1)
        return x.reshape(shape)
    return run


@gpu_kernel("Identity", since=1)
@gpu_kernel("Identity", since=13)
@gpu_kernel("Identity", since=14)
@gpu_kernel("Identity", since=16)
@gpu_kernel("Identity", since=19)
@gpu_kernel("Identity", since=21)
def identity(build):
    return lambda x: x


def _inference_dropout(node, graph) -> bool:
    mask = node.outputs[1] if len(node.outputs) > 1 else ""
    no_mask = not mask or (not graph.consumers(mask) and mask not in graph.outputs)
    no_training = len(node.inputs) < 3 or not node.inputs[2]
    return no_mask and no_training


@gpu_kernel("Dropout", since=1, supports=_inference_dropout)
@gpu_kernel("Dropout", since=6, supports=_inference_dropout)
@gpu_kernel("Dropout", since=7, supports=_inference_dropout)
@gpu_kernel("Dropout", since=10, supports=_inference_dropout)
@gpu_kernel("Dropout", since=12, supports=_inference_dropout)
@gpu_kernel("Dropout", since=13, supports=_inference_dropout)
@gpu_kernel("Dropout", since=22, supports=_inference_dropout)
def dropout(build):
    """Inference: the identity (training_mode inputs are not honoured: ronn runs inference)."""
    if len(build.node.outputs) > 1:
        return lambda x, *rest: (x, None)
    return lambda x, *rest: x
