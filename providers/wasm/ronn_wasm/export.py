"""``ronn export-web MODEL OUTDIR``: a self-contained bundle that runs the model without Python.

The model runs once on the wasm provider with sample inputs while the arena records every
kernel call. The bundle holds the same kernel module (``kernels.wasm``), the linear memory as it
was before the run (``weights.bin``: weights, prepacked constants), the recorded plan
(``plan.json``: input/output offsets and the kernel calls with their arguments), the sample
inputs and the Python run's outputs (``sample/``), a small ES-module runner (``ronn.mjs``) and an
``index.html`` that runs the check in a browser. The plan is specialised to the sample's shapes.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np

from ronn_core.errors import ConfigValueError, ModelError

FORMAT = "ronn-web-1"
WEB = Path(__file__).parent / "web"


def sample_feeds(session, shapes: dict[str, tuple] | None = None, seed: int = 0) -> dict:
    """Random inputs for every required input (symbolic dims need ``shapes``)."""
    rng, feeds = np.random.default_rng(seed), {}
    for info in session.inputs:
        shape = (shapes or {}).get(info.name) or getattr(info.type, "shape", None)
        if shape is None or any(not isinstance(d, int) or d is None for d in shape):
            raise ConfigValueError(f"input {info.name!r} has shape {shape}; give a static one, "
                                   f"e.g. --shape {info.name}=1,3,224,224")
        dtype = info.type.dtype
        feeds[info.name] = (rng.standard_normal(shape).astype(dtype) if dtype.kind == "f"
                            else rng.integers(0, 2, shape).astype(dtype))
    return feeds


def export_web(model, outdir, *, feeds: dict | None = None, shapes: dict | None = None,
               seed: int = 0, runtime=None, rtol: float = 1e-3, atol: float = 1e-4) -> dict:
    """Write the bundle for ``model`` (path, bytes or LoadedModel) to ``outdir``; return the plan."""
    from ronn_core.onnx_io import LoadedModel, load
    from ronn_core.session import Session
    from ronn_wasm.kernels import module_bytes

    loaded = model if isinstance(model, LoadedModel) else load(model)
    session = Session(loaded, providers=["wasm"], runtime=runtime)
    elsewhere = [f"{p.node} ({p.op_type})" for p in session.placement if p.provider != "wasm"]
    if elsewhere:
        raise ModelError(f"export-web needs every node on the wasm provider; these are not: "
                         f"{elsewhere[:8]}")
    provider = next(p for p in session._providers if p.name == "wasm")
    arena = provider.arena
    feeds = feeds if feeds is not None else sample_feeds(session, shapes, seed)
    with arena.lock:
        weights = arena.snapshot()
        arena.trace, arena.host_writes, arena.outputs, arena.inputs = [], [], {}, []
        try:
            outputs = session.run(feeds)
            calls, host_writes = arena.trace, arena.host_writes
            inputs, out_offsets = arena.inputs, dict(arena.outputs)
        finally:
            arena.trace = None
    if host_writes:
        raise ModelError(f"export-web: these steps computed on the host, which the bundle "
                         f"cannot replay: {sorted(set(host_writes))}")
    out = Path(outdir)
    (out / "sample").mkdir(parents=True, exist_ok=True)
    plan = {"format": FORMAT, "memory_bytes": int(arena.top), "weights": "weights.bin",
            "kernels": "kernels.wasm", "tolerance": {"rtol": rtol, "atol": atol},
            "inputs": [], "outputs": [], "calls": calls}
    for i, (name, value) in enumerate(feeds.items()):
        value = np.ascontiguousarray(value)
        offset = next((off for off, arr in inputs if arr.shape == value.shape
                       and arr.dtype == value.dtype and np.array_equal(arr, value)), None)
        if offset is None:
            raise ModelError(f"export-web: input {name!r} never reached the wasm arena")
        (out / "sample" / f"input_{i}.bin").write_bytes(value.tobytes())
        plan["inputs"].append({"name": name, "offset": offset, "shape": list(value.shape),
                               "dtype": value.dtype.name, "sample": f"sample/input_{i}.bin"})
    for i, (name, value) in enumerate(outputs.items()):
        offset = out_offsets.get(id(value))
        if offset is None:
            raise ModelError(f"export-web: output {name!r} does not live in the wasm arena")
        (out / "sample" / f"expected_{i}.bin").write_bytes(np.ascontiguousarray(value).tobytes())
        plan["outputs"].append({"name": name, "offset": offset, "shape": list(value.shape),
                                "dtype": value.dtype.name, "expected": f"sample/expected_{i}.bin"})
    (out / "kernels.wasm").write_bytes(module_bytes())
    (out / "weights.bin").write_bytes(weights)
    (out / "plan.json").write_text(json.dumps(plan))
    for name in ("ronn.mjs", "index.html"):
        shutil.copyfile(WEB / name, out / name)
    return plan


# -- the CLI ----------------------------------------------------------------------------------

def _shape(text: str) -> tuple[str, tuple]:
    name, _, dims = text.rpartition("=")
    try:
        return name, tuple(int(d) for d in dims.split(","))
    except ValueError:
        raise ConfigValueError(f"--shape {text!r}: expected NAME=D1,D2,... with integer dims")


def register(sub) -> None:
    p = sub.add_parser("export-web", help="export a model as a web bundle (wasm kernels + JS)",
                       description=__doc__.splitlines()[0])
    p.add_argument("model", type=Path, help="the model (.onnx)")
    p.add_argument("outdir", type=Path, help="the bundle directory to write")
    p.add_argument("--shape", action="append", default=[], metavar="NAME=D1,D2",
                   help="static shape of a sample input with symbolic dims (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random sample inputs")
    p.set_defaults(func=command)


def command(args) -> int:
    if not args.model.exists():
        print(f"ronn export-web: no such model file: {args.model}", file=sys.stderr)
        return 2
    plan = export_web(args.model, args.outdir, shapes=dict(_shape(s) for s in args.shape),
                      seed=args.seed)
    size = sum(f.stat().st_size for f in args.outdir.rglob("*") if f.is_file())
    print(f"wrote {args.outdir} ({size / 1e6:.1f} MB): {len(plan['calls'])} kernel calls, "
          f"{len(plan['inputs'])} input(s), {len(plan['outputs'])} output(s)")
    print(f"check it with: node {args.outdir / 'ronn.mjs'} --check")
    return 0
