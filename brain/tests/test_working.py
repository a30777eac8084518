"""Working memory: bounded, scored by recency / frequency / importance, persistent."""

from __future__ import annotations

import numpy as np
import pytest


def test_bounded_and_keeps_what_is_frequent(make_session, digits):
    s = make_session(working={"capacity": 5, "w_importance": 0.0, "half_life_s": 3600.0})
    wm = s.module("working")
    x = digits.x_test
    for _ in range(4):                               # request 0 is frequent
        s.run({"input": x[0:1]})
    for i in range(1, 12):
        s.run({"input": x[i:i + 1]})
    assert len(wm) == 5
    keys = [item.key for _, item in wm.items()]
    assert wm.key_of({"input": x[0:1]}) in keys                  # frequent survives
    assert wm.key_of({"input": x[1:2]}) not in keys              # old, seen once: evicted
    assert wm.key_of({"input": x[11:12]}) in keys                # newest kept
    top = wm.items()[0][1]
    assert top.count == 4 and np.array_equal(top.feeds["input"], x[0:1])


def test_importance_defaults_to_uncertainty_and_can_be_marked(make_session, plain, digits):
    s = make_session(working={})
    wm = s.module("working")
    x = digits.x_test[:1]
    out = s.run({"input": x})
    p = out["probs"][0].astype(np.float64)
    entropy = -(p * np.log(np.clip(p, 1e-12, 1))).sum() / np.log(10)
    item = wm.get(wm.key_of({"input": x}))
    assert item.importance == pytest.approx(entropy, rel=1e-5)
    wm.mark(item.key, 0.9, reviewed=True)
    assert wm.get(item.key).importance == 0.9 and wm.get(item.key).notes == {"reviewed": True}


def test_importance_decides_eviction(make_session, digits):
    s = make_session(working={"capacity": 3, "w_recency": 0.0, "w_frequency": 0.0})
    wm = s.module("working")
    x = digits.x_test
    s.run({"input": x[0:1]})
    wm.mark(wm.key_of({"input": x[0:1]}), 1.0)
    for i in range(1, 6):
        s.run({"input": x[i:i + 1]})
    assert wm.get(wm.key_of({"input": x[0:1]})) is not None


def test_state_survives_a_restart(make_session, digits, tmp_path):
    cfg = {"capacity": 10, "state_dir": str(tmp_path)}
    s = make_session(working=cfg)
    for i in range(3):
        s.run({"input": digits.x_test[i:i + 1]})
    s.run({"input": digits.x_test[0:1]})
    s.close()
    wm = make_session(working=cfg).module("working")
    assert len(wm) == 3
    item = wm.get(wm.key_of({"input": digits.x_test[0:1]}))
    assert item.count == 2 and item.outputs["probs"].shape == (1, 10)
