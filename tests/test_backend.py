"""The ONNX backend test suite runs against RONN through ``ronn.backend``.

Issue #3 runs the whole suite with a list of expected failures; this module runs the families
the foundation must get right (CNN and common transformer ops) and fails on any regression.
"""

import re

import onnx
import onnx.backend.test
from onnx import helper
import pytest

import ronn.backend

FAMILIES = [
    "abs", "add", "and", "argmax", "argmin", "averagepool", "batchnorm", "cast_FLOAT_to",
    "ceil", "clip", "concat", "constant", "constantofshape", "conv", "convtranspose", "cos",
    "depthtospace", "div", "dropout", "elu", "equal", "erf", "exp", "expand", "flatten",
    "floor", "gather", "gelu", "gemm", "globalaveragepool", "globalmaxpool", "greater",
    "hardsigmoid", "hardswish", "identity", "instancenorm", "layer_normalization",
    "leakyrelu", "less", "log", "logsoftmax", "lrn", "matmul", "max", "maxpool", "mean", "min",
    "mul", "neg", "not", "or", "pad", "pow", "prelu", "reciprocal", "reduce", "relu",
    "reshape", "round", "selu", "shape", "sigmoid", "sign", "sin", "size", "slice", "softmax",
    "softplus", "softsign", "split", "sqrt", "squeeze", "sub", "sum", "tanh", "tile",
    "transpose", "unsqueeze", "where", "xor",
]

SELECTED = re.compile(r"^test_(" + "|".join(FAMILIES) + r")(_.*)?_cpu$")
# Expanded function bodies of ops whose own kernels are tested here, and the training-mode,
# string and sub-byte float variants, belong to issue #3's full run.
LEFT_TO_ISSUE_3 = re.compile(r"(_expanded|_training_|_string|_FLOAT_to_(FLOAT8|FLOAT4|INT4|"
                             r"UINT4|INT2|UINT2))")

backend_test = onnx.backend.test.BackendTest(ronn.backend, __name__)
for _name, _case in backend_test.test_cases.items():
    # keep only the selected cases (onnx's own include/exclude would report the rest as skipped)
    for _attr in [a for a in vars(_case) if a.startswith("test_")]:
        if not SELECTED.match(_attr) or LEFT_TO_ISSUE_3.search(_attr):
            delattr(_case, _attr)
    globals()[_name] = _case


def test_the_backend_declares_cpu_only():
    assert ronn.backend.supports_device("CPU")
    assert not ronn.backend.supports_device("CUDA")


def test_prepare_refuses_other_devices():
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2])
    model = helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])],
                                                "relu", [x], [y]))
    with pytest.raises(ValueError, match="CPU"):
        ronn.backend.prepare(model, device="CUDA")
