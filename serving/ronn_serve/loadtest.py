"""Load test of ``ronn serve`` on loopback: throughput and p50/p99, batching on vs off.

One server subprocess serves the same MLP twice, as ``mlp_batched`` (dynamic batching) and
``mlp_single`` (no batching; same workers and queue). Closed-loop clients (each sends its next
request when the last is answered) hit one model at a time, bounded by a request count and a
time limit per scenario. Both modes are measured in the same run, alternating, and reported as a
ratio (batched / single throughput at the same client count), paired round by round.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ronn_serve.testing import binary_request, build_mlp, running_server

MODELS = ("mlp_single", "mlp_batched")


def write_config(folder: Path, *, features: int, hidden: int, layers: int = 3,
                 workers: int = 2, max_batch_size: int = 32, timeout_ms: float = 2.0) -> Path:
    import onnx
    onnx.save(build_mlp(features, hidden, layers=layers), folder / "mlp.onnx")
    common = (f'path = "mlp.onnx"\nthreads = 1\nworkers = {workers}\nmax_queue_size = 1024\n')
    (folder / "serve.toml").write_text(
        f"[models.mlp_single]\n{common}\n"
        f"[models.mlp_batched]\n{common}\n[models.mlp_batched.batching]\nenabled = true\n"
        f"max_batch_size = {max_batch_size}\ntimeout_ms = {timeout_ms}\n")
    return folder / "serve.toml"


async def _scenario(url: str, model: str, clients: int, requests: int, seconds: float,
                    body: bytes, headers: dict) -> dict[str, Any]:
    import aiohttp
    latencies: list[float] = []
    errors = 0
    left = requests
    deadline = time.monotonic() + seconds

    async def client(http):
        nonlocal left, errors
        while left > 0 and time.monotonic() < deadline:
            left -= 1
            start = time.perf_counter()
            async with http.post(f"{url}/v2/models/{model}/infer", data=body,
                                 headers=headers) as resp:
                await resp.read()
                if resp.status != 200:
                    errors += 1
                    continue
            latencies.append(time.perf_counter() - start)
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as http:
        for _ in range(3):                                  # warm the connections and model
            async with http.post(f"{url}/v2/models/{model}/infer", data=body,
                                 headers=headers) as resp:
                await resp.read()
        start = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        wall = time.perf_counter() - start
    ms = np.array(latencies) * 1e3
    return {"requests": len(latencies), "errors": errors, "seconds": round(wall, 3),
            "throughput_rps": round(len(latencies) / wall, 1) if wall else 0.0,
            "p50_ms": round(float(np.percentile(ms, 50)), 2) if ms.size else None,
            "p99_ms": round(float(np.percentile(ms, 99)), 2) if ms.size else None}


def _batch_stats(url: str) -> dict[str, tuple[float, float]]:
    """{model: (sum of rows, number of batches)} from /metrics."""
    import urllib.request
    text = urllib.request.urlopen(f"{url}/metrics", timeout=10).read().decode()
    stats = {}
    for model in MODELS:
        total = re.search(rf'ronn_serve_batch_size_sum{{model="{model}"}} (\S+)', text)
        count = re.search(rf'ronn_serve_batch_size_count{{model="{model}"}} (\S+)', text)
        stats[model] = (float(total.group(1)) if total else 0.0,
                        float(count.group(1)) if count else 0.0)
    return stats


def run_load_test(*, clients: tuple[int, ...] = (1, 8, 32), requests: int = 300,
                  seconds: float = 8.0, rounds: int = 5, features: int = 1024,
                  hidden: int = 2048, layers: int = 3, workers: int = 2,
                  max_batch_size: int = 32, timeout_ms: float = 2.0,
                  log=print) -> list[dict[str, Any]]:
    """Rows: one per (clients, mode). Each round runs both modes back to back (the order
    alternating between rounds); a mode's row is its best round, and ``speedup_median`` is the
    median over rounds of the paired batched/unbatched throughput ratio, which a machine
    whose load drifts disturbs least."""
    import os
    import statistics
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        config = write_config(Path(tmp), features=features, hidden=hidden, layers=layers,
                              workers=workers, max_batch_size=max_batch_size,
                              timeout_ms=timeout_ms)
        body, headers = binary_request(np.random.default_rng(0).standard_normal(
            (1, features)).astype(np.float32))
        with running_server(config) as (_, url):
            for n in clients:
                best: dict[str, dict] = {}
                ratios = []
                for round_ in range(rounds):
                    measured = {}
                    for model in (MODELS if round_ % 2 == 0 else MODELS[::-1]):
                        measured[model] = result = _measure(url, model, n, requests, seconds,
                                                            body, headers)
                        if model not in best or (result["throughput_rps"]
                                                 > best[model]["throughput_rps"]):
                            best[model] = result
                    if measured["mlp_single"]["throughput_rps"]:
                        ratios.append(measured["mlp_batched"]["throughput_rps"]
                                      / measured["mlp_single"]["throughput_rps"])
                base = best["mlp_single"]["throughput_rps"]
                load = round(os.getloadavg()[0], 2)
                median = round(statistics.median(ratios), 2) if ratios else None
                for model in MODELS:
                    r = best[model]
                    batched = model == "mlp_batched"
                    row = {"clients": n, "batching": batched, **r,
                           "speedup_best": round(r["throughput_rps"] / base, 2) if base else None,
                           "speedup_median": median if batched else 1.0, "rounds": rounds,
                           "loadavg_1m": load}
                    rows.append(row)
                    log(f"clients {n:3d}  batching {'on ' if batched else 'off'}  "
                        f"{r['throughput_rps']:8.1f} req/s  p50 {r['p50_ms']} ms  p99 "
                        f"{r['p99_ms']} ms  mean batch {r['mean_batch_rows']}  best "
                        f"x{row['speedup_best']}  median x{row['speedup_median']}  "
                        f"(load {load})")
    return rows


def _measure(url: str, model: str, clients: int, requests: int, seconds: float, body: bytes,
             headers: dict) -> dict[str, Any]:
    before = _batch_stats(url)[model]
    result = asyncio.run(_scenario(url, model, clients, requests, seconds, body, headers))
    after = _batch_stats(url)[model]
    batches = after[1] - before[1]
    result["mean_batch_rows"] = round((after[0] - before[0]) / batches, 2) if batches else None
    return result


def run_suite(threads: int | None = None, runs: int = 1, quick: bool = False) -> list[dict]:
    """The ``serving`` bench suite (``--quick``: a small model, 1 and 8 clients, few requests)."""
    if quick:
        return run_load_test(clients=(1, 8), requests=60, seconds=5.0, rounds=1, features=64,
                             hidden=128, layers=2, log=lambda *_: None)
    return run_load_test(rounds=max(5, runs), log=lambda *_: None)
