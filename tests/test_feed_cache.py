"""FeedValidator's fast path: a repeat of the last accepted signature skips the full check,
and every other feed still gets it (the errors of tests/test_errors.py, after a good call)."""

import numpy as np
import pytest
from onnx import TensorProto

from ronn_core.errors import InputShapeError, InputTypeError, MissingInputError, UnknownInputError
from ronn_core.feeds import FeedValidator, ValueInfo
from ronn_core.types import TensorType


@pytest.fixture
def validator():
    """``a: float32['batch', 3]``, ``b: float32['batch', 3]``, after one accepted call."""
    v = FeedValidator([ValueInfo("a", TensorType(TensorProto.FLOAT, ("batch", 3))),
                       ValueInfo("b", TensorType(TensorProto.FLOAT, ("batch", 3)))])
    v({"a": _f32(2, 3), "b": _f32(2, 3)})
    return v


def _f32(*shape):
    return np.zeros(shape, np.float32)


def test_a_repeated_signature_takes_the_fast_path_and_returns_a_fresh_dict(validator, monkeypatch):
    monkeypatch.setattr(validator, "_check_all", lambda feeds: pytest.fail("full check ran"))
    feeds = {"a": _f32(2, 3), "b": _f32(2, 3)}
    checked = validator(feeds)
    assert checked == feeds and checked is not feeds
    assert checked["a"] is feeds["a"]


@pytest.mark.parametrize("feeds,error,match", [
    ({"a": np.zeros((2, 3), np.float64), "b": _f32(2, 3)}, InputTypeError, r"float32.*float64"),
    ({"a": _f32(2, 4), "b": _f32(2, 4)}, InputShapeError, r"dim 1 = 3"),
    ({"a": _f32(2, 3), "b": _f32(5, 3)}, InputShapeError, r"'batch'"),
    ({"a": _f32(2, 3, 1), "b": _f32(2, 3)}, InputShapeError, r"rank 2"),
    ({"a": _f32(2, 3)}, MissingInputError, r"missing input"),
    ({"a": _f32(2, 3), "b": _f32(2, 3), "c": _f32(2, 3)}, UnknownInputError, r"'c'"),
    ({"a": _f32(2, 3), "b": "text"}, InputTypeError, r"str"),
])
def test_after_a_good_call_every_bad_feed_is_still_refused(validator, feeds, error, match):
    with pytest.raises(error, match=match):
        validator(feeds)
    validator({"a": _f32(2, 3), "b": _f32(2, 3)})      # the good signature still passes


def test_a_bad_feed_between_good_ones_does_not_replace_the_accepted_signature(validator):
    with pytest.raises(InputShapeError):
        validator({"a": _f32(2, 3), "b": _f32(4, 3)})
    with pytest.raises(InputShapeError):            # asked twice: still refused
        validator({"a": _f32(2, 3), "b": _f32(4, 3)})


def test_converted_feeds_are_never_cached():
    """Feeds the full check converts (a list, or str to object) must be converted every time."""
    v = FeedValidator([ValueInfo("s", TensorType(TensorProto.STRING, (2,)))])
    for _ in range(2):
        checked = v({"s": np.array(["x", "y"])})
        assert checked["s"].dtype == object
    v2 = FeedValidator([ValueInfo("a", TensorType(TensorProto.FLOAT, (3,)))])
    for _ in range(2):
        assert isinstance(v2({"a": np.zeros(3, np.float32)})["a"], np.ndarray)
        with pytest.raises(InputTypeError):     # a list of Python floats is float64
            v2({"a": [0.0, 1.0, 2.0]})
