"""Every module at once, many threads: same answers as one thread, consistent counts."""

from __future__ import annotations

import threading

import numpy as np


def test_concurrent_runs_and_learns(make_session, plain, models, digits, tmp_path):
    s = make_session(
        working={"capacity": 64},
        episodic={"embedding_model": str(models["embed"]), "threshold": 0.0},
        semantic={},
        consolidation={"interval_s": 0.01, "budget": 500, "merge_distance": 0.01},
        cascade={"fast_model": str(models["fast"]), "min_top_prob": 0.9},
        continual={"features_model": str(models["features"]), "classes": 10,
                   "replay_size": 64})
    x, y = digits.x_test[:40], digits.y_test[:40]
    fast = plain["fast"].run({"input": x})["probs"]
    full = plain["full"].run({"input": x})["probs"]
    want = np.where((fast.max(1) < 0.9)[:, None], full, fast)
    errors, results = [], {}

    def worker(t):
        try:
            for rep in range(3):
                for i in range(t, 40, 4):
                    out = s.run({"input": x[i:i + 1]})
                    results.setdefault(i, []).append(out["probs"][0])
                    s.learn({"input": x[i:i + 1]}, y[i])
        except Exception as exc:             # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for i, outs in results.items():
        assert len(outs) == 3
        np.testing.assert_allclose(outs[0], want[i], rtol=1e-5, atol=1e-6)
        assert all(np.array_equal(o, outs[0]) for o in outs)   # repeats: identical
    ep = s.module("episodic").stats()
    assert ep["rows"] == 120 and ep["misses"] == 40 and ep["exact_hits"] == 80
    assert s.module("cascade").stats()["rows"] == 40
    assert s.module("continual").learned == 120
    assert s.module("consolidation").stats["errors"] == 0
    assert len(s.module("working")) == 40
