"""Semantic memory: the concept graph (multi-hop, paths, spreading activation) and its module."""

from __future__ import annotations

import numpy as np
import pytest

from ronn_brain.concepts import ConceptGraph
from ronn_brain.episodes import Episode


def _ep(i, label, vec, t):
    return Episode(i, np.asarray(vec, dtype=np.float32), {}, t, label=label)


def chain_graph() -> ConceptGraph:
    """a(0) - b(1) - c(2) co-occur in sequence; d(3) far away, alone."""
    g = ConceptGraph(window_s=1.5, neighbors=1)
    eps = [_ep(0, 0, [0, 0], 0.0), _ep(1, 1, [1, 0], 1.0), _ep(2, 2, [2, 0], 2.0),
           _ep(3, 1, [1, 0], 3.0), _ep(4, 2, [2, 0], 4.0), _ep(5, 3, [50, 50], 100.0)]
    g.add_episodes(eps)
    return g


def test_nodes_edges_and_multi_hop():
    g = chain_graph()
    assert len(g) == 4
    assert g.cooccur[("label:0", "label:1")] == 1.0 and g.cooccur[("label:1", "label:2")] == 3.0
    one = g.related("label:0", hops=1)
    two = g.related("label:0", hops=2)
    assert "label:1" in one and "label:2" not in one
    assert "label:2" in two and two["label:1"] > two["label:2"]
    assert g.path("label:0", "label:2") == ["label:0", "label:1", "label:2"]


def test_spreading_activation_reaches_neighbours_and_fades():
    g = chain_graph()
    act = g.activate({"label:0": 1.0}, decay=0.5, steps=2)
    assert act["label:0"] > act["label:1"] > act["label:2"] > 0
    none = g.activate({"label:0": 1.0}, decay=0.5, steps=0)
    assert none == {"label:0": 1.0}


def test_unlabelled_episodes_cluster():
    g = ConceptGraph(cluster_radius=1.0)
    names = g.add_episodes([_ep(0, -1, [0, 0], 0), _ep(1, -1, [0.5, 0], 1),
                            _ep(2, -1, [10, 0], 2)])
    assert names[0] == names[1] != names[2]


def test_module_primes_context_and_persists(make_session, models, digits, tmp_path):
    s = make_session(episodic={"embedding_model": str(models["embed"])},
                     semantic={"state_dir": str(tmp_path)},
                     consolidation={"background": False, "promote_hits": 0})
    s.run({"input": digits.x_test[:40]})
    assert s.module("consolidation").consolidate()["promoted"] == 40
    sem = s.module("semantic")
    assert len(sem.graph) >= 8
    out = s.run({"input": digits.x_test[40:41]})
    label = f"label:{int(out['probs'].argmax())}"
    ctx = sem.context()
    assert next(iter(ctx)) == label and len(ctx) > 1
    s.close()
    again = make_session(semantic={"state_dir": str(tmp_path)}).module("semantic")
    assert sorted(again.graph.centroids) == sorted(sem.graph.centroids)
    assert again.related(label, hops=2) == pytest.approx(sem.related(label, hops=2))
