"""``ronn run CONFIG.toml | MODEL.onnx``: run a model once or more, show outputs and latency."""

from __future__ import annotations

import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from ronn.cli.format import emit_json, table
from ronn.zoo import random_inputs
from ronn_core.config import SessionConfig, load_config
from ronn_core.errors import ConfigValueError, FeedError
from ronn_core.onnx_io import load
from ronn_core.session import Session


def register(sub) -> None:
    p = sub.add_parser("run", help="run a model from a session config (.toml) or an .onnx file")
    p.add_argument("target", help="session config (.toml) or model (.onnx)")
    p.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy",
                   help="an input from a .npy file (repeat); missing inputs are random")
    p.add_argument("--output-dir", help="write every output to DIR/NAME.npy")
    p.add_argument("--repeat", type=int, help="timed runs after the first (default: config "
                                              "'runs', else 1)")
    p.add_argument("--provider", action="append", dest="providers", metavar="NAME",
                   help="provider in preference order (repeat)")
    p.add_argument("--level", choices=["O0", "O1", "O2", "O3"], help="optimization level")
    p.add_argument("--threads", type=int, help="intra-op threads")
    p.add_argument("--profile", metavar="TRACE.json", help="write a Chrome trace of the runs")
    p.add_argument("--seed", type=int, default=0, help="seed for random inputs")
    p.add_argument("--top", type=int, default=5, help="top-k values shown per output")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=command)


def command(args) -> int:
    cfg = _config(args)
    overrides = {}
    if args.providers:
        overrides["providers"] = args.providers
    if args.level:
        overrides["optimization_level"] = args.level
    if args.threads:
        overrides["threads"] = args.threads
    trace = Path(args.profile) if args.profile else cfg.profile_output
    if trace or cfg.profiling:
        overrides["profiling"] = True
    start = time.perf_counter()
    session = Session(load(cfg.model), **{**cfg.session_kwargs(), **overrides})
    created = time.perf_counter() - start
    with session:   # close() lets session modules persist what they learned
        return _run(session, cfg, args, created, trace)


def _run(session, cfg, args, created: float, trace) -> int:
    feeds, generated = _feeds(session, cfg, args)
    first_start = time.perf_counter()
    outputs = session.run(feeds)
    first = time.perf_counter() - first_start
    repeat = args.repeat if args.repeat is not None else cfg.runs
    times = []
    for _ in range(max(repeat, 0)):
        t = time.perf_counter()
        session.run(feeds)
        times.append(time.perf_counter() - t)
    if trace:
        session.profile().write_chrome_trace(trace)
    if cfg.output_dir or args.output_dir:
        _save(outputs, Path(args.output_dir) if args.output_dir else cfg.output_dir)
    latency = {"session_ms": created * 1e3, "first_run_ms": first * 1e3,
               "runs": len(times),
               "best_ms": min(times) * 1e3 if times else first * 1e3,
               "median_ms": statistics.median(times) * 1e3 if times else first * 1e3}
    if args.json:
        emit_json({"model": str(cfg.model), "providers": session.provider_names,
                   "random_inputs": generated, "latency": latency,
                   "outputs": {n: _summary(v, args.top) for n, v in outputs.items()}})
        return 0
    print(f"model     {cfg.model}")
    print(f"session   {session.optimization_level} on {', '.join(session.provider_names)}"
          f"{f', {session.threads} threads' if session.threads else ''}; "
          f"{len(session.plan.steps)} steps, built in {created * 1e3:.0f} ms")
    if generated:
        print(f"inputs    random (seed {args.seed}) for: {', '.join(generated)}")
    for name, value in outputs.items():
        s = _summary(value, args.top)
        print(f"\noutput {name!r}: {s['dtype']} {s['shape']}")
        if s.get("top"):
            print(table([[i + 1, t["index"], f"{t['value']:.6g}"] for i, t in
                         enumerate(s["top"])], ["rank", "index", "value"]))
    print(f"\nlatency   first run {first * 1e3:.1f} ms"
          + (f"; best {latency['best_ms']:.1f} ms, median {latency['median_ms']:.1f} ms over "
             f"{len(times)} runs" if times else ""))
    if trace:
        print(f"profile   Chrome trace written to {trace}")
    return 0


def _config(args) -> SessionConfig:
    target = Path(args.target)
    if target.suffix == ".toml":
        return load_config(target)
    return SessionConfig(model=target)


def _feeds(session: Session, cfg: SessionConfig, args) -> tuple[dict, list[str]]:
    files = dict(cfg.inputs)
    for item in args.input:
        name, sep, path = item.partition("=")
        if not sep:
            raise ConfigValueError(f"--input {item!r}: expected NAME=FILE.npy")
        files[name] = Path(path)
    known = {i.name for i in session.inputs}
    feeds = {}
    for name, path in files.items():
        if name not in known:
            raise FeedError(f"input file given for {name!r}, but the model's inputs are "
                            f"{sorted(known)}")
        try:
            feeds[name] = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ConfigValueError(f"input {name!r}: cannot read {str(path)!r} as .npy: {exc}") \
                from None
    missing = [i for i in session.inputs if i.name not in feeds]
    feeds.update(random_inputs(missing, seed=args.seed))
    return feeds, [i.name for i in missing]


def _summary(value, top: int) -> dict:
    if not isinstance(value, np.ndarray):
        return {"dtype": type(value).__name__, "shape": None, "value": repr(value)[:200]}
    s = {"dtype": str(value.dtype), "shape": list(value.shape)}
    if value.size and value.dtype.kind in "fiu" and top > 0:
        flat = value.reshape(-1)
        k = min(top, flat.size)
        idx = np.argsort(-flat.astype(np.float64), kind="stable")[:k]
        s["top"] = [{"index": int(i), "value": float(flat[i])} for i in idx]
        s["mean"] = float(flat.astype(np.float64).mean())
    return s


def _save(outputs: dict, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, value in outputs.items():
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        np.save(directory / f"{safe}.npy", np.asarray(value))
    print(f"outputs written to {directory}", file=sys.stderr)
