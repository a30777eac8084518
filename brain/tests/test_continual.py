"""Continual learning: online learning by session.learn, EWC + replay, fast weights, restart."""

from __future__ import annotations

import numpy as np
import pytest

from ronn_brain.bench.continual_bench import run_sequence
from ronn_brain.head import Head
from ronn_core.errors import ConfigValueError, FeedError


def _learner(make_session, models, **cfg):
    return make_session(model="features", continual={
        "features_model": str(models["features"]), "classes": 10, **cfg})


def _acc(s, x, y):
    return float((s.run({"input": x})["continual"].argmax(1) == y).mean())


def test_learning_from_feedback_improves_accuracy(make_session, models, digits):
    s = _learner(make_session, models, lr=0.05)
    x, y = digits.x_train, digits.y_train
    before = _acc(s, digits.x_test, digits.y_test)
    for i in range(0, len(x), 10):
        r = s.learn({"input": x[i:i + 10]}, y[i:i + 10])
    assert set(r) == {"continual"} and r["continual"]["loss"] > 0
    after = _acc(s, digits.x_test, digits.y_test)
    assert before < 0.3 and after > 0.85


@pytest.mark.parametrize("hidden", [0, 16])
def test_gradients_match_finite_differences(hidden):
    rng = np.random.default_rng(0)
    head = Head(5, 3, hidden, seed=1)
    head.slow = {k: v + rng.normal(0, 0.1, v.shape) for k, v in head.slow.items()}
    x, y = rng.normal(size=(4, 5)), np.array([0, 2, 1, 2])
    grads = head.gradients(x, y)
    for k, w in head.slow.items():
        idx = tuple(rng.integers(0, s) for s in w.shape)
        w[idx] += 1e-5
        up = head.losses(x, y).mean()
        w[idx] -= 2e-5
        down = head.losses(x, y).mean()
        w[idx] += 1e-5
        assert grads[k][idx] == pytest.approx((up - down) / 2e-5, rel=1e-4, abs=1e-7)


def test_ewc_and_replay_cut_forgetting(models, digits):
    class M:
        features = models["features"]
    plain = run_sequence(digits, M, {}, epochs=1)
    both = run_sequence(digits, M, {"ewc_lambda": 200.0, "replay_size": 200,
                                    "replay_batch": 10}, epochs=1)
    assert plain["acc_first_after_A"] > 0.85
    assert plain["forgetting_pp"] > 40
    assert both["forgetting_pp"] < plain["forgetting_pp"] / 2


def test_fast_weights_adapt_then_decay(make_session, models, digits):
    s = _learner(make_session, models, lr=0.0, fast_lr=0.5, fast_decay=0.5)
    x = digits.x_test[:1]
    s.learn({"input": x}, 3)
    assert s.run({"input": x})["continual"].argmax() == 3        # adapted at once
    head = s.module("continual").head
    assert np.abs(head.slow["W"]).sum() == 0 and np.abs(head.fast["W"]).sum() > 0
    feats = s.module("continual").features.embed({"input": x}, 1)
    for _ in range(40):                                          # no new signal: decay only
        head.fast_step(feats, np.array([3]), lr=0.0, decay=0.5)
    assert head.predict(feats).max() == pytest.approx(0.1, abs=1e-6)


def test_state_survives_a_restart(make_session, models, digits, tmp_path):
    cfg = {"state_dir": str(tmp_path), "replay_size": 50}
    s = _learner(make_session, models, **cfg)
    x, y = digits.x_train[:200], digits.y_train[:200]
    for i in range(0, 200, 20):
        s.learn({"input": x[i:i + 20]}, y[i:i + 20])
    before = s.run({"input": digits.x_test})["continual"]
    s.close()
    again = _learner(make_session, models, **cfg)
    np.testing.assert_allclose(again.run({"input": digits.x_test})["continual"], before,
                               rtol=1e-6)
    m = again.module("continual")
    assert m.learned == 200 and m.replay.size == 50


def test_label_errors(make_session, models, digits):
    s = _learner(make_session, models)
    x = digits.x_test[:4]
    with pytest.raises(FeedError, match="out of range"):
        s.learn({"input": x}, 12)
    with pytest.raises(FeedError, match="one per row: 4"):
        s.learn({"input": x}, np.array([1, 2]))
    with pytest.raises(FeedError, match="integer class"):
        s.learn({"input": x}, 1.5)
    with pytest.raises(ConfigValueError, match="classes"):
        make_session(continual={})
    with pytest.raises(ConfigValueError, match="no enabled session module learns"):
        make_session(working={}).learn({"input": x}, 1)
