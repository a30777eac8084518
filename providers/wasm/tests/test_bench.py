"""The ``wasm`` bench suite is registered and produces ratio rows (quick mode)."""

from __future__ import annotations


def test_bench_suite_quick_rows(runtime):
    suite = runtime.bench_suites["wasm"]
    rows = suite.run(threads=1, runs=3, quick=True)
    assert [r["model"] for r in rows] == ["squeezenet"]
    row = rows[0]
    assert row["wasm_ms"] > 0 and row["cpu_ms"] > 0
    assert abs(row["ratio_best"] - row["wasm_ms"] / row["cpu_ms"]) < 1e-9
