"""``ronn quantize IN.onnx OUT.onnx --scheme ternary [--exclude NAME...]``.

Writes the quantized model, then prints the file sizes before and after and, per float output,
the cosine similarity between the original model (cpu provider) and the quantized one (bitnet
provider, cpu for the rest) on the inputs of ``--inputs FILE.npz`` or on seeded random inputs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ronn_core.errors import ConfigValueError, ModelLoadError

from ronn_bitnet.quantize import SCHEMES, cosine_similarity, quantize_model


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "quantize", help="rewrite MatMul/Gemm with constant weights as ternary BitLinear",
        description="Quantize an ONNX model's MatMul/Gemm layers with constant weights to "
                    "BitNet b1.58 ternary (com.ronn.bitnet::BitLinear).")
    p.add_argument("input", help="the float model (.onnx)")
    p.add_argument("output", help="where to write the quantized model")
    p.add_argument("--scheme", default="ternary", help=f"quantization scheme: {list(SCHEMES)}")
    p.add_argument("--exclude", nargs="+", action="extend", default=[], metavar="NAME",
                   help="MatMul/Gemm node names to keep in float")
    p.add_argument("--inputs", metavar="FILE.npz",
                   help="inputs for the deviation check (default: random, see --seed)")
    p.add_argument("--dim", action="append", default=[], metavar="NAME=VALUE",
                   help="value of a symbolic input dimension for random inputs (default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    p.add_argument("--no-check", action="store_true", help="skip the deviation check")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=command)


def _read(path: str):
    from ronn_core.onnx_io import load_external_data, parse_model
    p = Path(path)
    if not p.is_file():
        raise ModelLoadError(f"cannot quantize {path!r}: no such file")
    proto = parse_model(p.read_bytes(), str(p))
    load_external_data(proto, p.parent, str(p))
    return proto


def _dims(specs: list[str]) -> dict[str, int]:
    dims = {}
    for spec in specs:
        name, _, value = spec.partition("=")
        if not name or not value.isdigit():
            raise ConfigValueError(f"--dim {spec!r}: expected NAME=VALUE with a non-negative "
                                   f"integer VALUE, e.g. batch=4")
        dims[name] = int(value)
    return dims


def random_inputs(session, dims: dict[str, int], seed: int) -> dict[str, np.ndarray]:
    """Standard normal floats (zeros for other types) shaped like the session's inputs."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for info in session.inputs:
        t = info.type
        shape = [d if isinstance(d, int) else dims.get(d, 1) for d in (t.shape or ())]
        dtype = t.dtype or np.dtype(np.float32)
        if np.issubdtype(dtype, np.floating):
            feeds[info.name] = rng.standard_normal(shape).astype(dtype)
        else:
            feeds[info.name] = np.zeros(shape, dtype)
    return feeds


def _check_arguments(args) -> None:
    """Fail on bad options before anything is written."""
    _dims(args.dim)
    if args.inputs and not os.path.isfile(args.inputs):
        raise ConfigValueError(f"--inputs {args.inputs!r}: no such file (expected an .npz of "
                               f"input name -> array)")


def _feeds(args, session) -> tuple[dict, str]:
    if not args.inputs:
        feeds = random_inputs(session, _dims(args.dim), args.seed)
        return feeds, f"random inputs (seed {args.seed})"
    with np.load(args.inputs) as data:
        return {k: data[k] for k in data.files}, f"inputs from {args.inputs}"


def deviation(original: bytes, quantized: bytes, args) -> tuple[list[dict], str]:
    """Run both models on the same inputs; per float output its cosine similarity."""
    import ronn
    base = ronn.Model.load(original).create_session(providers=["cpu"])
    quant = ronn.Model.load(quantized).create_session(providers=["bitnet", "cpu"])
    feeds, source = _feeds(args, base)
    want, got = base.run(feeds), quant.run(feeds)
    rows = []
    for name, ref in want.items():
        if isinstance(ref, np.ndarray) and np.issubdtype(ref.dtype, np.floating):
            rows.append({"output": name, "cosine_similarity": cosine_similarity(ref, got[name]),
                         "max_abs_diff": float(np.abs(ref.astype(np.float64) - got[name]).max())
                         if ref.size else 0.0})
    return rows, source


def _human(size: int) -> str:
    for unit in ("B", "KiB", "MiB"):
        if size < 1024 or unit == "MiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} GiB"


def command(args) -> int:
    _check_arguments(args)
    proto = _read(args.input)
    quantized, result = quantize_model(proto, scheme=args.scheme, exclude=args.exclude)
    data = quantized.SerializeToString()
    try:
        Path(args.output).write_bytes(data)
    except OSError as exc:
        raise ConfigValueError(f"cannot write {args.output!r}: {exc.strerror or exc}") from None
    before, after = os.path.getsize(args.input), os.path.getsize(args.output)
    report = {"scheme": args.scheme, "converted": result.converted,
              "skipped": [{"node": n, "reason": r} for n, r in result.skipped],
              "bytes_before": before, "bytes_after": after, "size_ratio": after / before}
    if not args.no_check:
        report["outputs"], report["check_inputs"] = deviation(proto.SerializeToString(), data,
                                                              args)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    total = len(result.converted) + len(result.skipped)
    print(f"quantized {len(result.converted)} of {total} MatMul/Gemm nodes to "
          f"com.ronn.bitnet::BitLinear (scheme {args.scheme}) -> {args.output}")
    for node, reason in result.skipped:
        print(f"  kept {node} in float: {reason}")
    print(f"size: {_human(before)} -> {_human(after)} "
          f"({after / before:.4f} of the original, {before / after:.1f}x smaller)")
    for row in report.get("outputs", []):
        print(f"output {row['output']}: cosine similarity {row['cosine_similarity']:.6f}, "
              f"max |diff| {row['max_abs_diff']:.4g} on {report['check_inputs']}")
    return 0
