"""Cascade router: which rows the full model answers, the stats it reports, its config errors."""

from __future__ import annotations

import numpy as np
import pytest

from ronn_brain.rows import confidence
from ronn_core.errors import ConfigValueError, ProviderError, UnknownConfigKeyError


def test_threshold_extremes_give_fast_or_full_answers(make_session, plain, models, digits):
    x = digits.x_test[:40]
    never = make_session(cascade={"fast_model": str(models["fast"]), "min_top_prob": 0.0})
    always = make_session(cascade={"fast_model": str(models["fast"]), "min_top_prob": 1.0})
    np.testing.assert_array_equal(never.run({"input": x})["probs"],
                                  plain["fast"].run({"input": x})["probs"])
    np.testing.assert_array_equal(always.run({"input": x})["probs"],
                                  plain["full"].run({"input": x})["probs"])
    assert never.module("cascade").stats()["fraction_full"] == 0.0
    assert always.module("cascade").stats()["fraction_full"] == 1.0


@pytest.mark.parametrize("batched", [True, False])
def test_unsure_rows_go_to_the_full_model(make_session, plain, models, digits, batched):
    x = digits.x_test[:60]
    fast = plain["fast"].run({"input": x})["probs"]
    full = plain["full"].run({"input": x})["probs"]
    t = float(np.median(fast.max(1)))              # about half the rows are unsure
    s = make_session(cascade={"fast_model": str(models["fast"]), "min_top_prob": t})
    if batched:
        got = s.run({"input": x})["probs"]
    else:
        got = np.concatenate([s.run({"input": x[i:i + 1]})["probs"] for i in range(len(x))])
    unsure = fast.max(1) < t
    assert 0 < unsure.sum() < len(x)
    np.testing.assert_allclose(got[unsure], full[unsure], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[~unsure], fast[~unsure], rtol=1e-5, atol=1e-6)
    st = s.module("cascade").stats()
    assert st["rows"] == len(x) and st["routed_full"] == int(unsure.sum())
    agree = (fast[unsure].argmax(1) == full[unsure].argmax(1)).mean()
    assert st["agreement"] == pytest.approx(agree)
    assert st["reasons"]["confidence"] == int(unsure.sum())


def test_margin_and_entropy_rules(make_session, plain, models, digits):
    x = digits.x_test[:80]
    fast = plain["fast"].run({"input": x})["probs"].astype(np.float64)
    c = confidence(fast)
    m = float(np.median(c["margin"]))
    s = make_session(cascade={"fast_model": str(models["fast"]), "min_top_prob": 0.0,
                              "min_margin": m})
    s.run({"input": x})
    assert s.module("cascade").stats()["routed_full"] == int((c["margin"] < m).sum())
    e = float(np.median(c["entropy"]))
    s = make_session(cascade={"fast_model": str(models["fast"]), "min_top_prob": 0.0,
                              "max_entropy": e})
    s.run({"input": x})
    assert s.module("cascade").stats()["routed_full"] == int((c["entropy"] > e).sum())


def test_size_and_novelty_rules(make_session, models, digits):
    x = digits.x_test[:10]
    s = make_session(cascade={"fast_model": str(models["fast"]), "min_top_prob": 0.0,
                              "max_input_elements": 32})
    s.run({"input": x})
    st = s.module("cascade").stats()
    assert st["routed_full"] == 10 and st["reasons"]["size"] == 10
    # novelty: the first sight of an image is novel; once episodic memory holds it, it is not
    s = make_session(episodic={"embedding_model": str(models["embed"])},
                     cascade={"fast_model": str(models["fast"]), "min_top_prob": 0.0,
                              "max_novelty": 0.5})
    s.run({"input": x})
    assert s.module("cascade").stats()["reasons"]["novelty"] == 10
    s.module("cascade").run({"input": x}, lambda f: pytest.fail("sent to the full model"))


def test_audit_measures_agreement_on_kept_rows(make_session, plain, models, digits):
    x = digits.x_test[:100]
    s = make_session(cascade={"fast_model": str(models["fast"]), "min_top_prob": 0.0,
                              "audit_rate": 1.0})
    s.run({"input": x})
    st = s.module("cascade").stats()
    fast = plain["fast"].run({"input": x})["probs"].argmax(1)
    full = plain["full"].run({"input": x})["probs"].argmax(1)
    assert st["audited"] == 100 and st["routed_full"] == 0
    assert st["audit_agreement"] == pytest.approx((fast == full).mean())


def test_stats_survive_a_restart(make_session, models, digits, tmp_path):
    cfg = {"fast_model": str(models["fast"]), "min_top_prob": 0.9, "state_dir": str(tmp_path)}
    s = make_session(cascade=cfg)
    s.run({"input": digits.x_test[:30]})
    before = s.module("cascade").stats()
    s.close()
    again = make_session(cascade=cfg).module("cascade").stats()
    assert again["rows"] == 30 and again["routed_full"] == before["routed_full"]


def test_config_errors(make_session, models, tmp_path):
    with pytest.raises(ConfigValueError, match="fast_model is required"):
        make_session(cascade={})
    with pytest.raises(UnknownConfigKeyError, match="did you mean 'min_top_prob'"):
        make_session(cascade={"fast_model": str(models["fast"]), "min_top_pro": 0.5})
    with pytest.raises(ConfigValueError, match="min_top_prob = 'high'.*expected number"):
        make_session(cascade={"fast_model": str(models["fast"]), "min_top_prob": "high"})
    with pytest.raises(ConfigValueError, match="from 0 to 1"):
        make_session(cascade={"fast_model": str(models["fast"]), "min_top_prob": 2.0})
    with pytest.raises(ConfigValueError, match="no such file"):
        make_session(cascade={"fast_model": str(tmp_path / "nope.onnx")})
    with pytest.raises(ConfigValueError, match="fast_providers"):
        make_session(cascade={"fast_model": str(models["fast"]), "fast_providers": [1]})
    with pytest.raises(ProviderError, match="unknown execution provider .nope."):
        make_session(cascade={"fast_model": str(models["fast"]), "fast_providers": ["nope"]})
    with pytest.raises(ConfigValueError, match="lacks output"):
        make_session(cascade={"fast_model": str(models["embed"])})


def test_relative_paths_resolve_against_the_model_folder(make_session, models):
    s = make_session(cascade={"fast_model": models["fast"].name})
    assert s.module("cascade").fast.outputs[0].name == "probs"
