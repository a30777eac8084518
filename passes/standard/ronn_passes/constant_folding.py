"""Constant folding, through RONN's own kernels.

A node folds when every input it reads is a constant (an initializer that is not a graph input,
or an earlier folded result), or when it only asks for a shape that is fully static (``Shape``,
``Size``): ``Shape -> Gather -> Unsqueeze -> Concat`` chains thus collapse into one constant.

Kernels are the reference kernels from the runtime's registry (``runtime.kernels.resolve(...,
use_reference=True)``), the ones a CPU session falls back to; onnx.reference and onnxruntime are
never used.

Size rule: a result with more than ``MAX_ELEMENTS`` (1M) elements is folded only when it is no
larger than the node's constant inputs together. Expanding ops (ConstantOfShape, Expand, Tile,
Range) over a big shape are cheaper to run than to store; the check is made before running the
kernel when the output shape is known statically, and again on the result.
"""

from __future__ import annotations

import numpy as np

from ronn_core.context import KernelContext
from ronn_core.graph import Graph, Node
from ronn_core.types import TensorType
from ronn_passes import util
from ronn_passes.cleanup import NONDETERMINISTIC

MAX_ELEMENTS = 1 << 20
NEVER_FOLD = NONDETERMINISTIC | {"If", "Loop", "Scan", "SequenceConstruct", "SequenceEmpty",
                                 "Optional"}


class ConstantFolding(util.StandardPass):
    """Evaluate nodes whose inputs are all constant (or whose result is a static shape)."""

    name = "constant-folding"
    level = "O1"

    def rewrite(self, graph: Graph, ctx) -> bool:
        runtime = ctx.options.get("runtime")
        if runtime is None:
            from ronn_core.runtime import default_runtime
            runtime = default_runtime()
        folder = _Folder(graph, runtime)
        changed = False
        for node in list(graph.nodes):
            if folder.fold(node):
                changed = True
        return changed


class _Folder:
    def __init__(self, graph: Graph, runtime):
        self.graph = graph
        self.runtime = runtime

    def fold(self, node: Node) -> bool:
        g = self.graph
        outs = [o for o in node.outputs if o]
        if (not outs or node.op_type in NEVER_FOLD or node.subgraphs or node.implicit_inputs
                or any(not util.removable(g, o) for o in outs)):
            return False
        results = self.shape_result(node)
        if results is None:
            inputs = [util.const(g, n) if n else None for n in node.inputs]
            if any(n and a is None for n, a in zip(node.inputs, inputs)):
                return False
            results = self.evaluate(node, inputs)
            if results is None:
                return False
            limit = max(MAX_ELEMENTS, sum(a.size for a in inputs if a is not None))
            if any(r.size > limit for r in results):
                return False
        if len(results) < len(outs):
            return False
        for name, value in zip(node.outputs, results):
            if name and not _fits(g, name, value):
                return False
        util.remove(g, node)
        for name, value in zip(node.outputs, results):
            if name:
                g.add_constant(name, value)
        return True

    def shape_result(self, node: Node) -> list[np.ndarray] | None:
        """Shape/Size of a value whose shape is fully static, without running anything."""
        if node.domain or node.op_type not in ("Shape", "Size") or not node.inputs:
            return None
        shape = util.static_shape(self.graph, node.inputs[0])
        if shape is None:
            return None
        if node.op_type == "Size":
            return [np.array(int(np.prod(shape, dtype=np.int64)), dtype=np.int64)]
        start = node.attributes.get("start", 0)
        end = node.attributes.get("end")
        return [np.array(shape[slice(start, end)], dtype=np.int64)]

    def evaluate(self, node: Node, inputs: list) -> list[np.ndarray] | None:
        expected = util.static_shape(self.graph, node.outputs[0])
        if expected is not None and int(np.prod(expected, dtype=np.int64)) > max(
                MAX_ELEMENTS, sum(a.size for a in inputs if a is not None)):
            return None
        spec = self.runtime.kernels.resolve(node.domain, node.op_type, node.version, "",
                                            use_reference=True)
        if spec is None or spec.factory:
            return None
        attrs = dict(node.attributes)
        if spec.context:
            attrs["ctx"] = KernelContext(node=node, provider=None)
        while inputs and inputs[-1] is None and len(inputs) > len(node.present_inputs):
            inputs = inputs[:-1]
        try:
            with np.errstate(all="ignore"):
                result = spec.fn(*inputs, **attrs)
        except Exception:
            return None                       # leave it to run time, where errors name the node
        results = list(result) if isinstance(result, tuple) else [result]
        if not all(isinstance(r, (np.ndarray, np.generic)) for r in results):
            return None
        return [np.asarray(r) for r in results]


def _fits(graph: Graph, name: str, value: np.ndarray) -> bool:
    """The folded value agrees with the type the graph declared for ``name`` (if any)."""
    if value.dtype == object and value.size == 0:
        return False
    t = graph.values[name].type if name in graph.values else None
    if not isinstance(t, TensorType):
        return t is None
    from onnx import helper
    try:
        elem = helper.np_dtype_to_tensor_dtype(value.dtype)
    except Exception:
        return False
    if t.elem_type and t.elem_type != elem:
        return False
    if t.shape is not None:
        if len(t.shape) != value.ndim:
            return False
        if any(isinstance(d, int) and d != s for d, s in zip(t.shape, value.shape)):
            return False
    return True
