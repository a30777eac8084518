"""``ronn.bench``: a model timed against onnxruntime in one process, and each runtime's peak RSS
measured alone, in a child that loads a model file."""

import numpy as np

from ronn.bench import bench_model, isolated_peak_rss, resolve_model


def test_bench_model_times_both_runtimes_and_measures_each_alone():
    result = bench_model("built:mlp", runs=3, warmup=1, threads=1, rss=True)
    assert result.ronn.best_ms > 0 and result.onnxruntime.best_ms > 0
    assert np.isclose(result.ratio_best, result.ronn.best_ms / result.onnxruntime.best_ms)
    # a Python process with numpy and its runtime loaded holds tens of MB at least
    assert 20 < result.ronn_rss_mb < 2000 and 20 < result.onnxruntime_rss_mb < 2000
    assert result.ronn_rss_mb != result.onnxruntime_rss_mb


def test_the_rss_child_measures_a_model_file_given_by_path(tmp_path):
    path = tmp_path / "mlp.onnx"
    path.write_bytes(resolve_model("built:mlp")[1])
    assert 20 < isolated_peak_rss(str(path), "onnxruntime", threads=1, runs=1) < 2000
    assert path.is_file()                 # the caller's file is left alone
