"""Large initializers read straight into arrays (onnx_wire): same arrays as onnx's own reading,
for every direct element type, by path and by bytes; anything laid out otherwise falls back to
the whole parse; and a file's weights are not held twice while loading."""

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from ronn_core import onnx_io, onnx_wire
from ronn_core.errors import ModelLoadError

DIRECT = [np.float32, np.float64, np.float16, np.int8, np.uint8, np.int16, np.uint16, np.int32,
          np.uint32, np.uint64, np.bool_]


def model_with(initializers: list[np.ndarray]) -> onnx.ModelProto:
    """``out = Identity(x)`` plus the given initializers (graph outputs, so they are kept)."""
    names = [f"w{i}" for i in range(len(initializers))]
    nodes = [helper.make_node("Identity", ["x"], ["y"])] + \
        [helper.make_node("Identity", [n], [f"{n}_out"]) for n in names]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])] + \
        [helper.make_tensor_value_info(f"{n}_out", helper.np_dtype_to_tensor_dtype(a.dtype),
                                       list(a.shape)) for n, a in zip(names, initializers)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [2])], outputs,
        [numpy_helper.from_array(a, n) for n, a in zip(names, initializers)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def random_array(rng, dtype, shape):
    if dtype == np.bool_:
        return rng.integers(0, 2, shape).astype(np.bool_)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    return rng.standard_normal(shape).astype(dtype)


def assert_same_constants(loaded, proto: onnx.ModelProto):
    for t in proto.graph.initializer:
        got, want = loaded.graph.value(t.name).constant, numpy_helper.to_array(t)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)


@settings(max_examples=25, deadline=None)
@given(dtypes=st.lists(st.sampled_from(DIRECT), min_size=1, max_size=4),
       sizes=st.lists(st.integers(1, 3000), min_size=4, max_size=4), seed=st.integers(0, 99))
def test_split_loading_matches_onnx_for_every_direct_type(tmp_path_factory, dtypes, sizes,
                                                          seed):
    """Small and large payloads of each type, with int64 ones (which stay in the proto)."""
    rng = np.random.default_rng(seed)
    arrays = [random_array(rng, d, (s, 3)) for d, s in zip(dtypes, sizes)]
    arrays.append(rng.integers(-9, 9, (2000,), dtype=np.int64))
    proto = model_with(arrays)
    data = proto.SerializeToString()
    path = tmp_path_factory.mktemp("wire") / "m.onnx"
    path.write_bytes(data)
    stripped, payloads = onnx_wire.split_model(data)
    large = {i for i, a in enumerate(arrays)
             if a.nbytes >= onnx_wire.MIN_PAYLOAD and a.dtype != np.int64}
    assert set(payloads) == large
    assert len(stripped) < len(data) - sum(arrays[i].nbytes for i in large) + 64 * len(arrays)
    for source in (path, data):
        assert_same_constants(onnx_io.load(source), proto)


def test_a_file_laid_out_otherwise_is_parsed_whole():
    """A tensor with its raw_data twice (protobuf keeps the last): the scan refuses, the plain
    parse reads it as onnx does."""
    proto = model_with([np.arange(4096, dtype=np.float32)])
    second = np.full(4096, 7.0, np.float32)
    tensor = proto.graph.initializer[0].SerializeToString() + \
        onnx_wire._length_delimited(9, second.tobytes())
    graph = onnx.GraphProto()
    graph.CopyFrom(proto.graph)
    del graph.initializer[:]
    model = onnx.ModelProto()
    model.CopyFrom(proto)
    model.ClearField("graph")
    data = model.SerializeToString() + onnx_wire._length_delimited(
        7, graph.SerializeToString() + onnx_wire._length_delimited(5, tensor))
    with pytest.raises(onnx_wire.WireFormatError, match="two raw_data"):
        onnx_wire.split_model(data)
    want = onnx.ModelProto()
    want.ParseFromString(data)
    np.testing.assert_array_equal(numpy_helper.to_array(want.graph.initializer[0]), second)
    assert_same_constants(onnx_io.load(data), want)


def test_a_payload_that_does_not_match_its_dims_is_refused_by_the_scan(tmp_path):
    """raw_data of the wrong size: the scan refuses, and the plain path names the tensor."""
    tensor = TensorProto(name="w0", data_type=TensorProto.FLOAT, dims=[4096],
                         raw_data=b"\0" * 8000)
    graph = helper.make_graph([helper.make_node("Identity", ["w0"], ["y"])], "g", [],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4096])],
                              [tensor])
    data = helper.make_model(graph).SerializeToString()
    with pytest.raises(onnx_wire.WireFormatError, match="8000 bytes"):
        onnx_wire.split_model(data)
    with pytest.raises(ModelLoadError, match=r"'w0' \(FLOAT, dims \[4096\]\) cannot be read"):
        onnx_io.load(data)


@pytest.mark.parametrize("cut", [1, 100, 4000])
def test_truncated_files_still_give_a_model_load_error(tmp_path, cut):
    data = model_with([np.ones((3000, 3), np.float32)]).SerializeToString()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[:-cut])
    with pytest.raises(ModelLoadError, match="cut.onnx"):
        onnx_io.load(path)


_CHILD = """
import json, sys
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024
from ronn_core import onnx_io
before = hwm()
loaded = onnx_io.load(sys.argv[1])
print(json.dumps({"before": before, "after": hwm()}))
"""


def test_loading_a_file_holds_its_weights_once(tmp_path):
    """160 MB of weights: the process's peak grows by about that much, not twice (proto and
    arrays) or three times (with the file's bytes), as a whole parse does."""
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((1000, 10000)).astype(np.float32) for _ in range(4)]
    path = tmp_path / "big.onnx"
    onnx.save(model_with(arrays), path)
    weights_mb = sum(a.nbytes for a in arrays) / 2**20
    done = subprocess.run([sys.executable, "-c", _CHILD, str(path)], capture_output=True,
                          text=True, check=True)
    peak = json.loads(done.stdout)
    assert peak["after"] - peak["before"] < 1.3 * weights_mb, (peak, weights_mb)
