"""A small ONNX exporter (onnx.helper): dense layers as MatMul/Add/Relu, optional Softmax."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def dense_model(layers: list[tuple[np.ndarray, np.ndarray]], *, relu_last: bool = False,
                softmax: bool = True, input_name: str = "input", output_name: str = "probs",
                name: str = "mlp") -> onnx.ModelProto:
    """``x -> [MatMul, Add, Relu]* -> MatMul, Add [-> Relu] [-> Softmax]``; batch dim left free."""
    nodes, inits = [], []
    x = input_name
    for i, (w, b) in enumerate(layers):
        inits += [numpy_helper.from_array(np.asarray(w, np.float32), f"W{i}"),
                  numpy_helper.from_array(np.asarray(b, np.float32).reshape(-1), f"B{i}")]
        nodes += [helper.make_node("MatMul", [x, f"W{i}"], [f"mm{i}"]),
                  helper.make_node("Add", [f"mm{i}", f"B{i}"], [f"z{i}"])]
        x = f"z{i}"
        if i < len(layers) - 1 or relu_last:
            nodes.append(helper.make_node("Relu", [x], [f"h{i}"]))
            x = f"h{i}"
    if softmax:
        nodes.append(helper.make_node("Softmax", [x], [output_name], axis=-1))
    else:
        nodes.append(helper.make_node("Identity", [x], [output_name]))
    d_in, d_out = np.shape(layers[0][0])[0], np.shape(layers[-1][0])[1]
    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", d_in])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["N", d_out])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="ronn-brain")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def sklearn_mlp(clf, **kw) -> onnx.ModelProto:
    """An sklearn ``MLPClassifier`` (relu hidden layers, softmax output) as ONNX."""
    return dense_model(list(zip(clf.coefs_, clf.intercepts_)), **kw)


def save(model: onnx.ModelProto, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path
