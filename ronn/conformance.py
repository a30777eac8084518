"""The ONNX backend test suite, run case by case through RONN (``ronn check``).

Cases come from the installed onnx package (``onnx.backend.test.loader``): the generated node
cases and the on-disk simple, pytorch-converted and pytorch-operator models. Each data set's
outputs are compared as onnx's own runner does (shape, dtype, values within the case's
rtol/atol; sequences and optionals element by element).
"""

from __future__ import annotations

import glob
import os
import time
import warnings
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.backend.test.loader import load_model_tests
from onnx.backend.test.runner import Runner

KINDS = ("node", "simple", "pytorch-converted", "pytorch-operator")


@dataclass
class CaseResult:
    name: str
    kind: str
    ops: list[str]
    passed: bool
    error: str | None
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_cases(kinds: Iterable[str] = KINDS) -> list:
    """The suite's test cases of the given kinds (network-only ``real`` models excluded)."""
    cases = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for kind in kinds:
            cases.extend(c for c in load_model_tests(kind=kind) if c.url is None)
    return sorted(cases, key=lambda c: (KINDS.index(c.kind) if c.kind in KINDS else 9, c.name))


def case_model(case) -> onnx.ModelProto:
    if case.model is not None:
        return case.model
    return onnx.load(os.path.join(case.model_dir, "model.onnx"))


def case_data(case, model: onnx.ModelProto) -> list[tuple[list, list]]:
    """(inputs, expected outputs) for every data set of a case."""
    if case.data_sets is not None:
        norm = lambda x: numpy_helper.to_array(x) if isinstance(x, onnx.TensorProto) else x  # noqa: E731
        return [([norm(i) for i in ins], [norm(o) for o in outs]) for ins, outs in case.data_sets]
    sets = []
    for folder in sorted(glob.glob(os.path.join(case.model_dir, "test_data_set*"))):
        n_in = len(glob.glob(os.path.join(folder, "input_*.pb")))
        n_out = len(glob.glob(os.path.join(folder, "output_*.pb")))
        ins = [_read(os.path.join(folder, f"input_{i}.pb"), model.graph.input[i].type)
               for i in range(n_in)]
        outs = [_read(os.path.join(folder, f"output_{i}.pb"), model.graph.output[i].type)
                for i in range(n_out)]
        sets.append((ins, outs))
    return sets


def _read(path: str, type_proto) -> Any:
    data = open(path, "rb").read()
    if type_proto.HasField("sequence_type"):
        proto = onnx.SequenceProto()
        proto.ParseFromString(data)
        return numpy_helper.to_list(proto)
    if type_proto.HasField("optional_type"):
        proto = onnx.OptionalProto()
        proto.ParseFromString(data)
        return numpy_helper.to_optional(proto)
    proto = onnx.TensorProto()
    proto.ParseFromString(data)
    return numpy_helper.to_array(proto)


def run_case(case) -> CaseResult:
    """Prepare the case's model with ``ronn.backend`` and compare every data set."""
    from ronn import backend
    start = time.perf_counter()
    ops: list[str] = []
    try:
        model = case_model(case)
        ops = sorted({n.op_type for n in model.graph.node})
        rep = backend.prepare(model)
        for inputs, expected in case_data(case, model):
            with np.errstate(all="ignore"):
                outputs = list(rep.run(inputs))
            Runner.assert_similar_outputs(expected, outputs, rtol=case.rtol, atol=case.atol)
        error = None
    except Exception as exc:  # every failure is data for the report
        first = str(exc).strip().splitlines()
        error = f"{type(exc).__name__}: {' '.join(first[:3])[:300]}"
    return CaseResult(case.name, case.kind, ops, error is None, error,
                      time.perf_counter() - start)


def run_suite(cases: list, progress: Callable[[int, int, CaseResult], None] | None = None
              ) -> list[CaseResult]:
    results = []
    for i, case in enumerate(cases):
        result = run_case(case)
        results.append(result)
        if progress:
            progress(i + 1, len(cases), result)
    return results


def by_operator(results: list[CaseResult]) -> dict[str, tuple[int, int]]:
    """op -> (passed, total); node cases count for their op, model cases under 'models'."""
    table: dict[str, list[int]] = {}
    for r in results:
        key = r.ops[0] if r.kind == "node" and len(r.ops) == 1 else (
            r.name.removeprefix("test_").split("_")[0] if r.kind == "node" else f"<{r.kind}>")
        row = table.setdefault(key, [0, 0])
        row[0] += r.passed
        row[1] += 1
    return {k: (v[0], v[1]) for k, v in sorted(table.items())}
