"""Episodic memory: the semantic cache, the HNSW store, time ranges, persistence."""

from __future__ import annotations

import time

import numpy as np
import pytest

from ronn_brain.episodes import EpisodeStore
from ronn_brain.rows import row_digests
from ronn_core.errors import ConfigValueError


def test_exact_repeats_hit_and_return_identical_outputs(make_session, digits):
    s = make_session(episodic={"threshold": 0.0})
    x = digits.x_test[:20]
    first = [s.run({"input": x[i:i + 1]})["probs"] for i in range(20)]
    again = [s.run({"input": x[i:i + 1]})["probs"] for i in range(20)]
    for a, b in zip(first, again):
        assert np.array_equal(a, b) and a.dtype == b.dtype
    st = s.module("episodic").stats()
    assert (st["exact_hits"], st["misses"], st["near_hits"]) == (20, 20, 0)


def test_cache_hits_skip_the_model(make_session, digits):
    s = make_session(episodic={})
    x = digits.x_test[:5]
    s.run({"input": x})
    m = s.module("episodic")
    out = m.run({"input": x}, lambda f: pytest.fail("the model ran on a cached request"))
    assert out["probs"].shape == (5, 10)


def test_batched_requests_mix_hits_and_misses(make_session, plain, digits):
    s = make_session(episodic={})
    x = digits.x_test[:12]
    s.run({"input": x[::2]})                                # rows 0, 2, 4, ... stored
    got = s.run({"input": x})
    np.testing.assert_allclose(got["probs"], plain["full"].run({"input": x})["probs"],
                               rtol=1e-5, atol=1e-6)
    st = s.module("episodic").stats()
    assert (st["exact_hits"], st["misses"]) == (6, 12)


def test_near_duplicates_within_threshold_get_the_stored_output(make_session, plain, models,
                                                              digits):
    emb = plain["embed"].run({"input": digits.x_test[:2]})["embedding"]
    gap = float(np.linalg.norm(emb[0] - emb[1]))
    s = make_session(episodic={"embedding_model": str(models["embed"]),
                               "threshold": gap * 1.01})
    a, b = digits.x_test[0:1], digits.x_test[1:2]
    stored = s.run({"input": a})["probs"]
    assert np.array_equal(s.run({"input": b})["probs"], stored)        # near hit
    assert np.array_equal(s.run({"input": b})["probs"], stored)        # its repeat: alias
    st = s.module("episodic").stats()
    assert (st["near_hits"], st["exact_hits"], st["episodes"]) == (1, 1, 1)
    tight = make_session(episodic={"embedding_model": str(models["embed"]),
                                   "threshold": gap * 0.99})
    tight.run({"input": a})
    assert not np.array_equal(tight.run({"input": b})["probs"], stored)
    assert tight.module("episodic").stats()["near_hits"] == 0


def test_embeddings_come_from_the_onnx_model_run_by_ronn(make_session, plain, models, digits):
    s = make_session(episodic={"embedding_model": str(models["embed"])})
    x = digits.x_test[:3]
    s.run({"input": x})
    eps = s.module("episodic").store.between()
    want = plain["embed"].run({"input": x})["embedding"]
    np.testing.assert_allclose(np.stack([e.embedding for e in eps]), want, rtol=1e-6)
    assert [e.label for e in eps] == list(plain["full"].run({"input": x})["probs"].argmax(1))


def test_store_search_and_time_ranges():
    store = EpisodeStore(metric="l2")
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((50, 8)).astype(np.float32)
    for i, v in enumerate(vecs):
        store.add(v, {"y": np.array([i])}, t=1000.0 + i)
    assert [e.id for e in store.between(1010, 1014)] == [10, 11, 12, 13, 14]
    nearest = store.nearest(vecs[7:8], 1)[0][0]
    assert nearest[0] == 7 and nearest[1] == pytest.approx(0.0, abs=1e-5)
    found = store.search(vecs[7], k=3, since=1020.0)
    assert len(found) == 3 and all(e.time >= 1020.0 for e, _ in found)
    brute = np.linalg.norm(vecs[20:] - vecs[7], axis=1)
    assert found[0][0].id == 20 + int(np.argmin(brute))
    assert found[0][1] == pytest.approx(float(brute.min()), rel=1e-4)
    store.remove([20 + int(np.argmin(brute))])
    assert store.search(vecs[7], k=1, since=1020.0)[0][0].id != 20 + int(np.argmin(brute))


def test_cosine_metric():
    store = EpisodeStore(metric="cos")
    store.add(np.array([1.0, 0.0]), {})
    store.add(np.array([0.0, 1.0]), {})
    (eid, dist), = store.nearest(np.array([[10.0, 1.0]]), 1)[0]
    assert eid == 0 and dist == pytest.approx(1 - 10 / np.sqrt(101), abs=1e-5)


def test_state_survives_a_restart(make_session, models, digits, tmp_path):
    cfg = {"embedding_model": str(models["embed"]), "threshold": 0.05,
           "state_dir": str(tmp_path / "state")}
    s = make_session(episodic=cfg)
    x = digits.x_test[:8]
    first = s.run({"input": x})["probs"]
    t0 = time.time()
    s.close()
    again = make_session(episodic=cfg)
    m = again.module("episodic")
    assert len(m.store) == 8 and all(e.time <= t0 for e in m.store.between())
    got = m.run({"input": x}, lambda f: pytest.fail("restarted cache missed"))
    np.testing.assert_array_equal(got["probs"], first)


def test_capacity_evicts_least_recently_used(make_session, digits):
    s = make_session(episodic={"capacity": 20})
    for i in range(30):
        s.run({"input": digits.x_test[i:i + 1]})
    store = s.module("episodic").store
    assert len(store) <= 20
    newest = row_digests({"input": digits.x_test[29:30]}, 1)[0]
    oldest = row_digests({"input": digits.x_test[0:1]}, 1)[0]
    assert store.by_digest(newest) is not None and store.by_digest(oldest) is None


def test_config_errors(make_session, tmp_path):
    with pytest.raises(ConfigValueError, match="metric"):
        make_session(episodic={"metric": "manhattan"})
    with pytest.raises(ConfigValueError, match="label_output"):
        make_session(episodic={"label_output": "nope"})
    with pytest.raises(ConfigValueError, match="non-negative"):
        make_session(episodic={"threshold": -1.0})
