"""The ONNX backend test suite (node, simple, pytorch-converted, pytorch-operator) through
``onnx.backend.test.BackendTest`` and ``ronn.backend``.

Every case must pass except those in ``conformance_expected_failures.txt`` (one per line, with its
reason). The list only shrinks: an expected failure that passes fails the run (strict), and so does
a listed name that no longer exists. Regenerate it with ``python tests/conformance_baseline.py``.
"""

import unittest
from pathlib import Path

import onnx
import onnx.backend.test
import pytest
from onnx import helper

import ronn.backend

EXPECTED_FAILURES_FILE = Path(__file__).with_name("conformance_expected_failures.txt")
KEPT_CLASSES = ("OnnxBackendNodeModelTest", "OnnxBackendSimpleModelTest",
                "OnnxBackendPyTorchConvertedModelTest", "OnnxBackendPyTorchOperatorModelTest")


def read_expected_failures(path: Path = EXPECTED_FAILURES_FILE) -> dict[str, str]:
    """``{case name: reason}`` from lines ``test_name_cpu  # reason``."""
    entries = {}
    for line in path.read_text().splitlines():
        name, _, reason = line.partition("#")
        if name.strip():
            entries[name.strip()] = reason.strip()
    return entries


EXPECTED_FAILURES = read_expected_failures()
_seen: set[str] = set()

backend_test = onnx.backend.test.BackendTest(ronn.backend, __name__)
for _name, _case in backend_test.test_cases.items():
    if _name not in KEPT_CLASSES:
        continue   # real models need a network; light ones are covered by test_zoo.py
    for _attr in [a for a in vars(_case) if a.startswith("test_")]:
        if not _attr.endswith("_cpu"):
            delattr(_case, _attr)   # onnx would report every CUDA variant as skipped
        elif _attr in EXPECTED_FAILURES:
            _seen.add(_attr)
            setattr(_case, _attr, unittest.expectedFailure(getattr(_case, _attr)))
    globals()[_name] = _case


def test_every_expected_failure_names_a_case_of_the_suite():
    stale = sorted(set(EXPECTED_FAILURES) - _seen)
    assert not stale, f"remove these from {EXPECTED_FAILURES_FILE.name}: {stale}"


def test_every_expected_failure_has_a_reason():
    assert all(EXPECTED_FAILURES.values())


def test_the_backend_runs_on_cpu_only():
    assert ronn.backend.supports_device("CPU")
    assert not ronn.backend.supports_device("CUDA")
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2])
    model = helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])],
                                                "relu", [x], [y]))
    with pytest.raises(ValueError, match="CPU"):
        ronn.backend.prepare(model, device="CUDA")
