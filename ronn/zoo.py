"""The model-zoo networks that ship inside the onnx package, with real random weights.

The ``light_*`` networks make every weight with ConstantOfShape, so their outputs are uniform and a
wrong kernel can still match. ``light_model(name, seed=...)`` replaces those weights with seeded
random initializers (He-scaled for convolutions and dense layers, sane batch-norm statistics).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

LIGHT_NETWORKS = ("bvlc_alexnet", "densenet121", "inception_v1", "inception_v2", "resnet50",
                  "shufflenet", "squeezenet", "vgg19", "zfnet512")


def light_dir() -> Path:
    return Path(os.path.dirname(onnx.__file__)) / "backend" / "test" / "data" / "light"


def light_path(name: str) -> Path:
    """Path of ``light_<name>.onnx`` inside the installed onnx package."""
    name = name.removeprefix("light_").removesuffix(".onnx")
    if name not in LIGHT_NETWORKS:
        raise ValueError(f"unknown light network {name!r}; choose from {LIGHT_NETWORKS}")
    return light_dir() / f"light_{name}.onnx"


def light_model(name: str, *, seed: int = 0) -> onnx.ModelProto:
    """The light network with its ConstantOfShape weights replaced by seeded random weights."""
    model = onnx.load(light_path(name))
    return randomize_constant_weights(model, seed=seed)


def randomize_constant_weights(model: onnx.ModelProto, *, seed: int = 0) -> onnx.ModelProto:
    """Replace ConstantOfShape nodes fed by initializer shapes with random initializers."""
    rng = np.random.default_rng(seed)
    graph = model.graph
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    roles = _weight_roles(graph)
    keep, new_inits = [], []
    for node in graph.node:
        if node.op_type == "ConstantOfShape" and node.input and node.input[0] in inits:
            shape = tuple(int(d) for d in inits[node.input[0]])
            value = _random_weight(rng, shape, roles.get(node.output[0], "other"))
            new_inits.append(numpy_helper.from_array(value, node.output[0]))
        else:
            keep.append(node)
    del graph.node[:]
    graph.node.extend(keep)
    used = {i for n in graph.node for i in n.input}
    shape_inputs = {t.name for t in graph.initializer if t.name not in used}
    kept_inits = [t for t in graph.initializer if t.name not in shape_inputs]
    del graph.initializer[:]
    graph.initializer.extend(kept_inits + new_inits)
    kept_inputs = [i for i in graph.input if i.name not in shape_inputs]
    del graph.input[:]
    graph.input.extend(kept_inputs)
    for t in graph.initializer:   # batch-norm parameters given as initializers: make them vary
        role = roles.get(t.name)
        if role and role.startswith("bn_") and t.name not in {x.name for x in new_inits}:
            arr = numpy_helper.to_array(t)
            t.CopyFrom(numpy_helper.from_array(_random_weight(rng, arr.shape, role), t.name))
    return model


def _weight_roles(graph) -> dict[str, str]:
    roles: dict[str, str] = {}
    for node in graph.node:
        ins = list(node.input)
        if node.op_type in ("Conv", "Gemm", "MatMul") and len(ins) > 1:
            roles[ins[1]] = "weight_t" if node.op_type == "Gemm" and any(
                a.name == "transB" and a.i for a in node.attribute) else "weight"
            if len(ins) > 2:
                roles[ins[2]] = "bias"
        elif node.op_type == "BatchNormalization":
            for name, role in zip(ins[1:], ("bn_scale", "bn_bias", "bn_mean", "bn_var")):
                roles[name] = role
        elif node.op_type in ("Mul", "Add") and len(ins) > 1:
            roles.setdefault(ins[1], "affine_mul" if node.op_type == "Mul" else "affine_add")
    return roles


def _random_weight(rng: np.random.Generator, shape: tuple, role: str) -> np.ndarray:
    if role.startswith("weight") and len(shape) >= 2:
        fan_in = int(np.prod(shape[1:])) if role == "weight" and len(shape) > 2 else (
            shape[1] if role == "weight_t" else shape[0])
        w = rng.normal(0.0, np.sqrt(2.0 / max(fan_in, 1)), size=shape)
    elif role == "bn_scale" or role == "affine_mul":
        w = rng.uniform(0.5, 1.0, size=shape)
    elif role == "bn_var":
        w = rng.uniform(0.5, 1.5, size=shape)
    elif role in ("bn_mean", "bn_bias", "bias", "affine_add"):
        w = rng.normal(0.0, 0.1, size=shape)
    else:
        w = rng.normal(0.0, 0.1, size=shape)
    return w.astype(np.float32)


def random_inputs(inputs, *, seed: int = 0, default_dim: int = 1) -> dict[str, np.ndarray]:
    """Random feeds for ``ValueInfo``-like inputs (symbolic dims become ``default_dim``)."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for info in inputs:
        shape = [d if isinstance(d, int) else default_dim for d in (info.shape or [])]
        dtype = info.dtype if info.dtype is not None else np.dtype(np.float32)
        if dtype.kind == "f":
            feeds[info.name] = rng.standard_normal(shape).astype(dtype)
        elif dtype.kind in "iu":
            feeds[info.name] = rng.integers(0, 10, size=shape).astype(dtype)
        elif dtype.kind == "b":
            feeds[info.name] = rng.integers(0, 2, size=shape).astype(bool)
        else:
            feeds[info.name] = np.full(shape, "a", dtype=object)
    return feeds


def main(argv: list[str] | None = None) -> int:
    """``python -m ronn.zoo NAME OUT.onnx [--seed N]``: write a light network with random weights."""
    import argparse
    parser = argparse.ArgumentParser(prog="python -m ronn.zoo", description=main.__doc__)
    parser.add_argument("name", choices=LIGHT_NETWORKS)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(light_model(args.name, seed=args.seed), args.out)
    print(f"wrote {args.out} (light {args.name}, random weights, seed {args.seed})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
