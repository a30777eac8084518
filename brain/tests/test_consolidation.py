"""Consolidation: merges near-duplicates, promotes, forgets under a budget, never blocks run()."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from ronn_core.errors import ConfigValueError


def _session(make_session, models, **consolidation):
    return make_session(episodic={"embedding_model": str(models["embed"])},
                        semantic={}, consolidation={"background": False, **consolidation})


def test_merges_near_duplicates_with_the_same_label(make_session, models, digits):
    s = _session(make_session, models, merge_distance=0.2)
    x = digits.x_test[:10]
    rng = np.random.default_rng(0)
    twins = np.clip(x + rng.normal(0, 0.005, x.shape), 0, 1).astype(np.float32)
    s.run({"input": x})
    s.run({"input": twins})
    store = s.module("episodic").store
    assert len(store) == 20
    changed = s.module("consolidation").consolidate()
    assert changed["merged"] == 10 and len(store) == 10
    assert sorted(e.hits for e in store.snapshot()) == [1] * 10


def test_exact_repeats_stay_identical_across_merges(make_session, models, digits):
    s = _session(make_session, models, merge_distance=10.0)
    x = digits.x_test[:30]
    first = [s.run({"input": x[i:i + 1]})["probs"] for i in range(30)]
    s.module("consolidation").consolidate()
    assert len(s.module("episodic").store) < 30
    for i in range(30):
        again = s.run({"input": x[i:i + 1]})["probs"]
        assert np.array_equal(again, first[i])


def test_promotes_hit_episodes_to_semantic_memory(make_session, models, digits):
    s = _session(make_session, models, promote_hits=1)
    x = digits.x_test[:20]
    s.run({"input": x})
    s.run({"input": x[:5]})                                  # five episodes hit once
    changed = s.module("consolidation").consolidate()
    assert changed["promoted"] == 5
    assert sum(s.module("semantic").graph.counts.values()) == 5 * 2   # weight 1 + hits
    assert s.module("consolidation").consolidate()["promoted"] == 0   # not twice


def test_forgets_the_least_valuable_under_the_budget(make_session, models, digits):
    s = _session(make_session, models, budget=10, w_recency=0.0, w_novelty=0.0)
    x = digits.x_test[:25]
    s.run({"input": x})
    s.run({"input": x[:10]})                                  # these ten are worth keeping
    assert s.module("consolidation").consolidate()["forgotten"] == 15
    store = s.module("episodic").store
    assert len(store) == 10 and all(e.hits == 1 for e in store.snapshot())


def test_a_cycle_never_blocks_run(make_session, models, digits):
    s = _session(make_session, models)
    s.run({"input": digits.x_test[:20]})
    cons = s.module("consolidation")
    entered, release = threading.Event(), threading.Event()
    real = cons.score

    def slow_score(episodes, store):
        entered.set()
        release.wait(20)
        return real(episodes, store)

    cons.score = slow_score
    worker = threading.Thread(target=cons.consolidate)
    worker.start()
    try:
        assert entered.wait(10)
        start = time.perf_counter()
        for i in range(20, 30):                               # misses: they write the store
            s.run({"input": digits.x_test[i:i + 1]})
        assert time.perf_counter() - start < 10
        assert worker.is_alive()                               # the cycle is still in progress
    finally:
        release.set()
        worker.join()
    assert cons.stats["cycles"] == 1


def test_background_thread_runs_after_every_n_runs(make_session, models, digits):
    # consolidation listed first = outermost: it signals after episodic stored the 5th run
    s = make_session(consolidation={"interval_s": 0.0, "every_runs": 5, "budget": 3},
                     episodic={})
    for i in range(5):
        s.run({"input": digits.x_test[i:i + 1]})
    cons = s.module("consolidation")
    deadline = time.time() + 20
    while cons.stats["cycles"] == 0 and time.time() < deadline:
        time.sleep(0.02)
    assert cons.stats["cycles"] >= 1 and cons.stats["errors"] == 0
    assert len(s.module("episodic").store) == 3


def test_needs_episodic_memory(make_session):
    s = make_session(consolidation={"background": False})
    with pytest.raises(ConfigValueError, match="needs the episodic module"):
        s.module("consolidation").consolidate()
