"""The bitnet provider: claims only BitLinear, the rest falls back by partition; same results."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto

from ronn_bitnet.models import bit_linear_model
from ronn_bitnet.provider import bit_linear_bitnet
from ronn_bitnet.reference import bit_linear
from ronn_core.errors import (ConfigValueError, KernelError, ModelError, NoKernelError,
                              RonnError)


@pytest.fixture
def layer(rng):
    t = rng.integers(-1, 2, (24, 300)).astype(np.int8)
    return t, np.float32(0.07), rng.standard_normal(24).astype(np.float32)


def test_bitlinear_on_bitnet_the_rest_falls_back_to_cpu(session_of, layer, rng):
    model = bit_linear_model(*layer, relu=True)
    both = session_of(model, providers=["bitnet", "cpu"])
    placed = {p.op_type: p for p in both.placement}
    assert placed["BitLinear"].provider == "bitnet" and not placed["BitLinear"].fallback
    assert placed["BitLinear"].kernel_plugin == "ronn_bitnet.plugin"
    assert placed["Relu"].provider == "cpu" and placed["Relu"].fallback
    cpu = session_of(model, providers=["cpu"])
    assert {p.provider for p in cpu.placement} == {"cpu"}
    x = rng.standard_normal((5, 300)).astype(np.float32)
    np.testing.assert_array_equal(both.run({"x": x})["y"], cpu.run({"x": x})["y"])


def test_bitnet_alone_cannot_run_other_ops(session_of, layer):
    with pytest.raises(NoKernelError, match="Relu"):
        session_of(bit_linear_model(*layer, relu=True), providers=["bitnet"])


@pytest.mark.parametrize("kernel", ["i2s", "tl", "auto"])
def test_kernel_option_picks_the_kernel(session_of, layer, rng, kernel):
    session = session_of(bit_linear_model(*layer), providers=["bitnet"],
                         provider_options={"bitnet": {"kernel": kernel}}, threads=1)
    x = rng.standard_normal((3, 300)).astype(np.float32)
    y = session.run({"x": x})["y"]
    t, s, b = layer
    from ronn_bitnet.packing import pack
    np.testing.assert_array_equal(y, bit_linear(x, pack(t), s, b, in_features=300))
    [step] = session.plan.steps
    used = step.fn.prepared.used
    assert list(used) == [4] and (kernel == "auto" or used[4] == kernel)


def test_bad_kernel_option(session_of, layer):
    with pytest.raises(ConfigValueError, match=r"option 'kernel' = 'fast'.*'auto', 'i2s', 'tl'"):
        session_of(bit_linear_model(*layer), providers=["bitnet"],
                   provider_options={"bitnet": {"kernel": "fast"}})


def test_weights_fed_at_run_time_use_the_reference_kernel(session_of, layer, rng):
    from ronn_bitnet.packing import pack
    t, s, b = layer
    session = session_of(bit_linear_model(t, s, b, constant_weights=False), providers=["bitnet"])
    [step] = session.plan.steps
    assert step.provider == "bitnet" and not hasattr(step.fn, "prepared")
    x = rng.standard_normal((2, 300)).astype(np.float32)
    np.testing.assert_array_equal(session.run({"x": x, "W": pack(t)})["y"],
                                  bit_linear(x, pack(t), s, b, in_features=300))


def test_invalid_code_in_constant_weights_is_a_model_error(session_of, layer):
    model = bit_linear_model(*layer)
    w = next(i for i in model.graph.initializer if i.name == "W")
    raw = bytearray(w.raw_data)
    raw[5] |= 0b11
    w.raw_data = bytes(raw)
    with pytest.raises(ModelError, match="bitlinear.*invalid 2-bit code 3"):
        session_of(model, providers=["bitnet"])
    with pytest.raises(KernelError, match="invalid 2-bit code 3"):
        session_of(model, providers=["cpu"]).run({"x": np.ones((1, 300), np.float32)})


def test_schema_rejects_mismatched_shapes(session_of, layer):
    t, s, b = layer
    model = bit_linear_model(t, s, b, x_shape=("batch", 299))
    with pytest.raises(ModelError, match=r"bitlinear \(BitLinear\).*last dimension is 299.*300"):
        session_of(model, providers=["cpu"])
    model = bit_linear_model(t, s, b)
    model.graph.node[0].attribute[0].i = 310
    with pytest.raises(ModelError, match="W has 75 bytes per row; in_features 310 needs 78"):
        session_of(model, providers=["cpu"])
    model = bit_linear_model(t, s, b)
    model.graph.input[0].type.tensor_type.elem_type = TensorProto.DOUBLE
    with pytest.raises(ModelError, match="X is double; BitLinear takes float"):
        session_of(model, providers=["cpu"])


def test_schema_infers_the_output_type(session_of, layer):
    session = session_of(bit_linear_model(*layer, relu=True), providers=["cpu"],
                         optimization_level="O0")
    assert str(session.graph.value("h").type) == "tensor(float)[batch, 24]"


def test_wrong_input_at_run_time(session_of, layer):
    session = session_of(bit_linear_model(*layer, x_shape=(None,)), providers=["bitnet"])
    assert session.run({"x": np.ones(300, np.float32)})["y"].shape == (24,)
    with pytest.raises(RonnError, match="float"):
        session.run({"x": np.ones((2, 300), np.float64)})


def test_factory_is_registered_for_the_bitnet_provider_only(runtime):
    spec = runtime.kernels.resolve("com.ronn.bitnet", "BitLinear", 1, "bitnet", False)
    assert spec.fn is bit_linear_bitnet and spec.factory
    ref = runtime.kernels.resolve("com.ronn.bitnet", "BitLinear", 1, "cpu", True)
    assert ref.fn is bit_linear and ref.provider is None
