"""Reshaping, transposing, joining/splitting, constants and Pad agree with onnxruntime."""

from __future__ import annotations

import pathlib
import sys

import numpy as np
import pytest
from onnx import TensorProto, helper

from ronn_core.context import KernelContext
from ronn_core.graph import Node

from op_harness import check_node, node_model, run_onnxruntime, run_reference  # noqa: E402

RNG = np.random.default_rng(0)
DTYPES = [np.float32, np.float64, np.int32, np.int64, np.uint8, np.bool_, np.float16]


def rand(shape, dtype=np.float32):
    if dtype == np.bool_:
        return np.asarray(RNG.random(shape) > 0.5)
    return np.asarray((RNG.random(shape) * 10).astype(dtype))


def i64(*values):
    return np.array(values, dtype=np.int64)


# --- Reshape, Flatten, Squeeze, Unsqueeze ------------------------------------------------------

@pytest.mark.parametrize("opset", [5, 13, 14, 21])
@pytest.mark.parametrize("in_shape, target", [
    ((2, 3, 4), (4, 6)),
    ((2, 3, 4), (-1,)),
    ((2, 3, 4), (0, -1)),       # 0 copies dim 0
    ((2, 3, 4), (0, 0, 2, 2)),
    ((2, 3, 4), (-1, 0, 1)),    # 0 copies dim 1 (position matters, not value)
    ((1, 12), (3, -1, 2)),
    ((0, 3), (-1, 3)),          # empty tensor
])
def test_reshape(in_shape, target, opset):
    check_node("Reshape", {"x": rand(in_shape), "shape": i64(*target)}, opset=opset)


@pytest.mark.parametrize("dtype", DTYPES)
def test_reshape_dtypes(dtype):
    check_node("Reshape", {"x": rand((2, 6), dtype), "shape": i64(3, 4)}, opset=13)


def test_reshape_allowzero_keeps_an_empty_dim():
    check_node("Reshape", {"x": rand((0, 4)), "shape": i64(0, 2, 2)}, {"allowzero": 1}, opset=14)


def test_reshape_v1_takes_the_shape_attribute():
    x = rand((2, 3, 4))
    (out,) = run_reference("Reshape", {"x": x}, {"shape": [0, -1]}, opset=1)
    assert out.shape == (2, 12)


@pytest.mark.parametrize("axis, opset", [(a, o) for o in (9, 11, 13, 21)
                                         for a in (0, 1, 2, 3, -1, -3)
                                         if a >= 0 or o >= 11])   # negative axes from opset 11
def test_flatten(axis, opset):
    check_node("Flatten", {"x": rand((2, 3, 4))}, {"axis": axis}, opset=opset)


@pytest.mark.parametrize("axes", [None, [0], [2, 0], [-1]])
def test_squeeze_attribute_form(axes):
    attrs = {} if axes is None else {"axes": axes}
    check_node("Squeeze", {"x": rand((1, 3, 1))}, attrs, opset=11)


@pytest.mark.parametrize("opset", [13, 21])
@pytest.mark.parametrize("axes", [None, [0], [2, 0], [-1]])
def test_squeeze_input_form(axes, opset):
    inputs = {"x": rand((1, 3, 1))} if axes is None else {"x": rand((1, 3, 1)), "axes": i64(*axes)}
    check_node("Squeeze", inputs, opset=opset)


def test_squeeze_rejects_a_dim_that_is_not_1():
    with pytest.raises(ValueError):
        run_reference("Squeeze", {"x": rand((2, 3)), "axes": i64(0)}, opset=13)


@pytest.mark.parametrize("axes", [[0], [2], [1, 0], [-1], [0, 3]])
def test_unsqueeze_attribute_form(axes):
    check_node("Unsqueeze", {"x": rand((2, 3))}, {"axes": axes}, opset=11)


@pytest.mark.parametrize("opset", [13, 21])
@pytest.mark.parametrize("axes", [[0], [2], [-1], [1, -1], [3, 0]])
def test_unsqueeze_input_form(axes, opset):
    check_node("Unsqueeze", {"x": rand((2, 3)), "axes": i64(*axes)}, opset=opset)


def test_unsqueeze_scalar():
    check_node("Unsqueeze", {"x": np.array(5.0, np.float32), "axes": i64(0)}, opset=13)


# --- Transpose, DepthToSpace, SpaceToDepth -----------------------------------------------------

@pytest.mark.parametrize("opset", [7, 13, 21])
@pytest.mark.parametrize("perm", [None, [0, 1, 2], [2, 0, 1], [1, 2, 0]])
def test_transpose(perm, opset):
    attrs = {} if perm is None else {"perm": perm}
    check_node("Transpose", {"x": rand((2, 3, 4))}, attrs, opset=opset)


@pytest.mark.parametrize("dtype", DTYPES)
def test_transpose_dtypes(dtype):
    check_node("Transpose", {"x": rand((2, 3), dtype)}, opset=13)


@pytest.mark.parametrize("mode", ["DCR", "CRD"])
@pytest.mark.parametrize("blocksize", [2, 3])
def test_depth_to_space(mode, blocksize):
    x = rand((2, 2 * blocksize**2, 3, 2))
    check_node("DepthToSpace", {"x": x}, {"blocksize": blocksize, "mode": mode}, opset=13)


def test_depth_to_space_v1_is_dcr():
    check_node("DepthToSpace", {"x": rand((1, 8, 2, 3))}, {"blocksize": 2}, opset=7)


@pytest.mark.parametrize("opset", [7, 13])
@pytest.mark.parametrize("blocksize", [2, 3])
def test_space_to_depth(blocksize, opset):
    x = rand((2, 3, 2 * blocksize, 3 * blocksize))
    check_node("SpaceToDepth", {"x": x}, {"blocksize": blocksize}, opset=opset)


@pytest.mark.parametrize("mode", ["DCR", "CRD"])
def test_space_to_depth_inverts_depth_to_space(mode):
    x = rand((2, 12, 3, 2))
    (space,) = run_reference("DepthToSpace", {"x": x}, {"blocksize": 2, "mode": mode}, opset=13)
    (back,) = run_reference("SpaceToDepth", {"x": space}, {"blocksize": 2, "mode": mode},
                            opset=28)
    np.testing.assert_array_equal(back, x)


# --- Concat, Split, Tile, Expand ---------------------------------------------------------------

@pytest.mark.parametrize("axis, opset", [(a, o) for o in (7, 11, 13) for a in (0, 1, -1)
                                         if a >= 0 or o >= 11])   # negative axes from opset 11
def test_concat(axis, opset):
    shapes = {0: [(1, 3), (2, 3), (3, 3)], 1: [(2, 1), (2, 4), (2, 2)]}[axis % 2]
    inputs = {f"x{i}": rand(s) for i, s in enumerate(shapes)}
    check_node("Concat", inputs, {"axis": axis}, opset=opset)


@pytest.mark.parametrize("dtype", DTYPES)
def test_concat_dtypes(dtype):
    check_node("Concat", {"a": rand((2, 2), dtype), "b": rand((1, 2), dtype)}, {"axis": 0})


def test_concat_single_input_and_empty_piece():
    check_node("Concat", {"a": rand((2, 3))}, {"axis": 0})
    check_node("Concat", {"a": rand((2, 3)), "b": rand((0, 3))}, {"axis": 0})


def test_concat_v1_defaults_to_axis_1():
    a, b = rand((2, 2)), rand((2, 3))
    (out,) = run_reference("Concat", {"a": a, "b": b}, opset=1)
    np.testing.assert_array_equal(out, np.concatenate([a, b], axis=1))


@pytest.mark.parametrize("axis, split, opset", [
    (a, s, o) for o in (7, 11) for a, s in ((0, [1, 3]), (1, [2, 1, 2]), (-1, [5]))
    if a >= 0 or o >= 11])   # negative axes from opset 11
def test_split_attribute(axis, split, opset):
    check_node("Split", {"x": rand((4, 5))}, {"axis": axis, "split": split}, opset=opset,
               n_outputs=len(split))


@pytest.mark.parametrize("opset", [13, 18])
@pytest.mark.parametrize("axis, split", [(0, [1, 3]), (1, [2, 1, 2]), (1, [0, 5])])
def test_split_input(axis, split, opset):
    check_node("Split", {"x": rand((4, 5)), "split": i64(*split)}, {"axis": axis}, opset=opset,
               n_outputs=len(split))


@pytest.mark.parametrize("dim, num_outputs", [(6, 3), (7, 3), (5, 2), (4, 4)])
def test_split_num_outputs_last_chunk_may_be_smaller(dim, num_outputs):
    outs = check_node("Split", {"x": rand((2, dim))}, {"axis": 1, "num_outputs": num_outputs},
                      opset=18, n_outputs=num_outputs)
    assert len(outs) == num_outputs


@pytest.mark.parametrize("opset", [7, 13])
def test_split_without_sizes_makes_one_equal_part_per_output(opset):
    x = rand((6, 2))
    model = node_model("Split", {"x": x}, {"axis": 0}, opset=opset, n_outputs=3)
    expected = run_onnxruntime(model, {"x": x})
    ctx = KernelContext(node=Node("Split", ["x"], ["a", "b", "c"]), provider=None)
    got = run_reference("Split", {"x": x}, {"axis": 0, "ctx": ctx}, opset=opset)
    assert len(got) == 3
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)


@pytest.mark.parametrize("opset", [7, 13])
@pytest.mark.parametrize("repeats", [(1, 1), (2, 3), (1, 0), (3, 1)])
def test_tile(repeats, opset):
    check_node("Tile", {"x": rand((2, 3)), "repeats": i64(*repeats)}, opset=opset)


@pytest.mark.parametrize("dtype", DTYPES)
def test_tile_dtypes(dtype):
    check_node("Tile", {"x": rand((2,), dtype), "repeats": i64(3)}, opset=13)


def test_tile_v1_repeats_one_axis():
    x = rand((2, 3))
    (out,) = run_reference("Tile", {"x": x, "tiles": i64(2), "axis": i64(1)}, opset=1)
    np.testing.assert_array_equal(out, np.tile(x, (1, 2)))


@pytest.mark.parametrize("opset", [8, 13])
@pytest.mark.parametrize("in_shape, shape", [
    ((3, 1), (3, 4)),
    ((3, 1), (2, 1, 6)),     # rank grows
    ((3, 4), (1,)),          # a 1 keeps the input dim (bidirectional)
    ((1, 4), (3, 1)),
    ((), (2, 2)),
    ((2, 1), (0, 2, 1)),
])
def test_expand(in_shape, shape, opset):
    check_node("Expand", {"x": rand(in_shape), "shape": i64(*shape)}, opset=opset)


# --- Constant, ConstantOfShape, Shape, Size, Range, Identity, EyeLike ---------------------------

def _run_constant(attr_name, attr_value, ref_value, opset=13):
    node = helper.make_node("Constant", [], ["out0"], **{attr_name: attr_value})
    graph = helper.make_graph([node], "constant", [], [helper.make_empty_tensor_value_info("out0")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    (expected,) = run_onnxruntime(model, {})
    (got,) = run_reference("Constant", {}, {attr_name: ref_value}, opset=opset)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("opset", [9, 13, 19])
@pytest.mark.parametrize("array", [np.arange(6, dtype=np.float32).reshape(2, 3),
                                   np.array(7, dtype=np.int64), np.array([True, False])])
def test_constant_value_tensor(array, opset):
    _run_constant("value", helper.make_tensor("v", helper.np_dtype_to_tensor_dtype(array.dtype),
                                              array.shape, array.reshape(-1).tolist()), array,
                  opset)


@pytest.mark.parametrize("name, value", [
    ("value_float", 1.5), ("value_floats", [1.0, 2.5]), ("value_int", 3),
    ("value_ints", [4, 5, 6]),
])
def test_constant_value_attributes(name, value):
    _run_constant(name, value, value)


def test_constant_strings():
    (s,) = run_reference("Constant", {}, {"value_string": "hi"}, opset=13)
    (ss,) = run_reference("Constant", {}, {"value_strings": ["a", "b"]}, opset=13)
    assert s.shape == () and s.dtype == object and s[()] == "hi"
    assert ss.shape == (2,) and list(ss) == ["a", "b"]


@pytest.mark.parametrize("opset", [9, 20])
@pytest.mark.parametrize("fill", [None, np.array([2.5], np.float32), np.array([7], np.int64),
                                  np.array([1], np.int32), np.array([True])])
@pytest.mark.parametrize("shape", [(2, 3), (0,), ()])
def test_constant_of_shape(shape, fill, opset):
    attrs = {} if fill is None else {"value": helper.make_tensor(
        "v", helper.np_dtype_to_tensor_dtype(fill.dtype), [1], fill.tolist())}
    inputs = {"shape": i64(*shape)}
    model = node_model("ConstantOfShape", inputs, attrs, opset=opset)
    (expected,) = run_onnxruntime(model, inputs)
    (got,) = run_reference("ConstantOfShape", inputs, {} if fill is None else {"value": fill},
                           opset=opset)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("opset", [7, 13])
def test_shape(opset):
    check_node("Shape", {"x": rand((2, 3, 4))}, opset=opset)
    check_node("Shape", {"x": np.array(1.0, np.float32)}, opset=opset)


@pytest.mark.parametrize("start, end", [(0, None), (1, None), (-1, None), (0, -1), (-10, 10),
                                        (2, 1), (1, 2)])
def test_shape_start_end_clamp(start, end):
    attrs = {"start": start} if end is None else {"start": start, "end": end}
    check_node("Shape", {"x": rand((2, 3, 4))}, attrs, opset=15)


@pytest.mark.parametrize("shape", [(2, 3, 4), (), (0, 5)])
def test_size(shape):
    check_node("Size", {"x": rand(shape)}, opset=13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64, np.int16])
@pytest.mark.parametrize("start, limit, delta", [(0, 10, 3), (10, 0, -3), (5, 5, 1),
                                                 (1, 10, -1), (-3, 4, 2)])
def test_range(start, limit, delta, dtype):
    scalars = {k: np.array(v, dtype) for k, v in
               [("start", start), ("limit", limit), ("delta", delta)]}
    check_node("Range", scalars, opset=11)


def test_range_fractional_delta():
    scalars = {"start": np.array(0.1, np.float32), "limit": np.array(2.0, np.float32),
               "delta": np.array(0.3, np.float32)}
    check_node("Range", scalars, opset=11)


@pytest.mark.parametrize("opset", [7, 13, 16])
@pytest.mark.parametrize("dtype", DTYPES)
def test_identity(dtype, opset):
    check_node("Identity", {"x": rand((2, 3), dtype)}, opset=opset)


@pytest.mark.parametrize("shape", [(3, 3), (2, 4), (4, 2)])
@pytest.mark.parametrize("k", [0, 1, -2, 5])
@pytest.mark.parametrize("dtype", [None, TensorProto.INT32, TensorProto.DOUBLE])
def test_eye_like(shape, k, dtype):
    attrs = {"k": k} if dtype is None else {"k": k, "dtype": dtype}
    check_node("EyeLike", {"x": rand(shape)}, attrs, opset=9)


# --- Pad ---------------------------------------------------------------------------------------

PAD_CASES = [
    [0, 0, 0, 0], [1, 2, 0, 1], [2, 0, 2, 3], [0, -1, 0, 2], [-1, 1, 1, -2], [0, 3, 0, 3],
]


@pytest.mark.parametrize("opset", [11, 13, 18, 19])
@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
@pytest.mark.parametrize("pads", PAD_CASES)
def test_pad(pads, mode, opset):
    inputs = {"x": rand((3, 4)), "pads": i64(*pads),
              "value": np.array(1.5, np.float32) if mode == "constant" else None}
    check_node("Pad", inputs, {"mode": mode}, opset=opset)


@pytest.mark.parametrize("pads", PAD_CASES + [[0, 5, 0, 5]])
def test_pad_wrap(pads):
    check_node("Pad", {"x": rand((3, 4)), "pads": i64(*pads)}, {"mode": "wrap"}, opset=19)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, np.float64, np.bool_])
def test_pad_dtypes(dtype):
    check_node("Pad", {"x": rand((2, 3), dtype), "pads": i64(1, 1, 1, 1)}, opset=13)


@pytest.mark.parametrize("axes", [[1], [-1], [0], [1, 0]])
def test_pad_axes(axes):
    pads = i64(*([1] * len(axes) + [2] * len(axes)))
    check_node("Pad", {"x": rand((2, 3, 4)), "pads": pads, "value": None, "axes": i64(*axes)},
               opset=18)


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
def test_pad_v2_attributes(mode):
    check_node("Pad", {"x": rand((3, 4))}, {"pads": [1, 2, 1, 0], "mode": mode, "value": 2.0},
               opset=7)


def test_pad_v1_paddings_attribute():
    x = rand((2, 2))
    (out,) = run_reference("Pad", {"x": x}, {"paddings": [1, 0, 0, 1], "value": 9.0}, opset=1)
    np.testing.assert_array_equal(out, np.pad(x, [(1, 0), (0, 1)], constant_values=9.0))
