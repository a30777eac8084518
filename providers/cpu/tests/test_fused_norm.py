"""com.ronn::FusedBatchNormalization (BN and the activation in one pass) and LRN on the CPU."""

import numpy as np
from hypothesis import given, settings, strategies as st

import ronn
from cpu_harness import REFERENCE, one_node, ronn_node


def fused_bn_model(x_shape, activation, params, seed, dtype=np.float32):
    rng = np.random.default_rng(seed)
    c = x_shape[1]
    consts = {"s": rng.uniform(0.5, 1.5, c), "b": rng.normal(size=c),
              "m": rng.normal(size=c), "v": rng.uniform(0.5, 1.5, c)}
    consts = {k: v.astype(dtype) for k, v in consts.items()}
    model = ronn_node("FusedBatchNormalization", {"x": np.zeros(x_shape, dtype)}, consts,
                      ["x", "s", "b", "m", "v"], activation, params, epsilon=1e-3)
    return model, consts


@settings(max_examples=30, deadline=None)
@given(shape=st.lists(st.integers(1, 6), min_size=2, max_size=4),
       activation=st.sampled_from([("Relu", []), ("LeakyRelu", [0.2]), ("Sigmoid", []),
                                   ("Clip", [-0.5, 0.5])]),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_fused_batch_normalization_matches_bn_then_activation(shape, activation, dtype, seed):
    model, c = fused_bn_model(shape, *activation, seed, dtype)
    session = ronn.Model.load(model.SerializeToString()).create_session(optimization_level="O0")
    assert session.placement[0].kernel_plugin == "cpu"
    x = np.random.default_rng(seed + 1).standard_normal(shape).astype(dtype)
    per = [1, -1] + [1] * (len(shape) - 2)
    n = (x - c["m"].reshape(per)) / np.sqrt(c["v"].reshape(per) + 1e-3) * c["s"].reshape(per) \
        + c["b"].reshape(per)
    name, params = activation
    want = {"Relu": lambda v: np.maximum(v, 0), "LeakyRelu": lambda v: np.where(v >= 0, v, 0.2 * v),
            "Sigmoid": lambda v: 1 / (1 + np.exp(-v)),
            "Clip": lambda v: np.clip(v, -0.5, 0.5)}[name](n)
    got = session.run({"x": x})["y"]
    assert got.dtype == dtype
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_an_activation_without_an_epilogue_still_gives_bn_then_the_activation():
    import math
    model, c = fused_bn_model([1, 3, 4], "Gelu", [], 0)
    session = ronn.Model.load(model.SerializeToString()).create_session(optimization_level="O0")
    x = np.linspace(-2, 2, 12, dtype=np.float32).reshape(1, 3, 4)
    per = [1, -1, 1]
    n = (x - c["m"].reshape(per)) / np.sqrt(c["v"].reshape(per) + 1e-3) * c["s"].reshape(per) \
        + c["b"].reshape(per)
    want = np.vectorize(lambda v: 0.5 * v * (1 + math.erf(v / math.sqrt(2))))(n)
    np.testing.assert_allclose(session.run({"x": x})["y"], want, rtol=1e-4, atol=1e-5)


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(1, 7), min_size=3, max_size=4), size=st.integers(1, 6),
       beta=st.sampled_from([0.75, 0.5, 1.3]), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2**16))
def test_fast_lrn_matches_reference(shape, size, beta, dtype, seed):
    x = (np.random.default_rng(seed).standard_normal(shape) * 3).astype(dtype)
    data = one_node("LRN", x, {"size": size, "alpha": 0.3, "beta": beta, "bias": 1.5}) \
        .SerializeToString()
    fast = ronn.Model.load(data).create_session(optimization_level="O0")
    assert fast.placement[0].kernel_plugin == "cpu"
    slow = ronn.Model.load(data).create_session(optimization_level="O0", runtime=REFERENCE)
    got, want = fast.run({"x": x})["y"], slow.run({"x": x})["y"]
    assert got.dtype == want.dtype == dtype
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
