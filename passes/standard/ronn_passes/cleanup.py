"""O1 cleanups that keep every op's meaning: frozen IR<4 initializers, no-op elimination,
dead-code elimination and common-subexpression elimination."""

from __future__ import annotations

import numpy as np

from ronn_core.graph import Graph, Node
from ronn_passes import util

NONDETERMINISTIC = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
                    "Multinomial", "Bernoulli"}


class FreezeInitializers(util.StandardPass):
    """Initializers listed as graph inputs become constants, for IR version < 4 models only.

    In IR < 4 every initializer had to be a graph input; onnxruntime treats them as constants
    there (feeding one is an "invalid input name" error). From IR 4 on they are overridable and
    stay so. The IR version comes from ``ctx.options["ir_version"]`` (or ``graph.ir_version``);
    when it is unknown nothing is frozen, so overridable initializers are never folded by guess.
    """

    name = "freeze-initializers"
    level = "O1"
    before = ("constant-folding",)

    def rewrite(self, graph: Graph, ctx) -> bool:
        ir = ctx.options.get("ir_version", getattr(graph, "ir_version", None))
        if ir is None or ir >= 4:
            return False
        frozen = [n for n in graph.inputs if graph.values.get(n) is not None
                  and graph.values[n].constant is not None]
        if not frozen:
            return False
        graph.inputs = [n for n in graph.inputs if n not in set(frozen)]
        return True


def _noop_input(graph: Graph, node: Node) -> str | None:
    """The input a node passes through unchanged, or None when it does something."""
    op, ins, outs = node.op_type, node.present_inputs, node.outputs
    if node.domain or not ins or node.subgraphs:
        return None
    x = node.inputs[0]
    if op == "Identity":
        return x
    if op == "Dropout":
        extra = outs[1:] and outs[1]
        if extra and (util.consumers(graph, extra) or extra in graph.outputs):
            return None                                # the mask is used
        if len(node.inputs) > 2 and node.inputs[2]:
            mode = util.const(graph, node.inputs[2])
            if mode is None or bool(mode.reshape(-1)[0]):
                return None                            # training_mode is on or unknown
        return x
    if len(outs) != 1:
        return None
    if op in ("Concat", "Sum", "Max", "Min", "Mean") and len(node.inputs) == 1:
        return x
    if op == "Cast":
        src = util.elem_type(graph, x)
        return x if src and src == node.attributes.get("to") else None
    if op == "Transpose":
        perm = node.attributes.get("perm")
        return x if perm is not None and list(perm) == list(range(len(perm))) else None
    same = _same_static(graph, x, outs[0])
    if op in ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Expand") and same:
        return x
    if op in ("Add", "Sub", "Mul", "Div", "Pow") and same and len(node.inputs) == 2:
        c = util.const(graph, node.inputs[1])
        neutral = {"Add": 0, "Sub": 0, "Mul": 1, "Div": 1, "Pow": 1}[op]
        if c is not None and c.size and np.all(c == neutral):
            return x
        c0 = util.const(graph, node.inputs[0])
        if op in ("Add", "Mul") and c0 is not None and c0.size and np.all(c0 == neutral) \
                and _same_static(graph, node.inputs[1], outs[0]):
            return node.inputs[1]
    return None


def _same_static(graph: Graph, a: str, b: str) -> bool:
    sa, sb = util.static_shape(graph, a), util.static_shape(graph, b)
    return (sa is not None and sa == sb and util.elem_type(graph, a) != 0
            and util.elem_type(graph, a) == util.elem_type(graph, b))


class EliminateNoOps(util.StandardPass):
    """Remove Identity, inference Dropout and ops that provably pass their input through
    (Cast to the same type, identity Transpose, Reshape to the same static shape, x+0, x*1,
    single-input Concat/Sum...)."""

    name = "noop-elimination"
    level = "O1"
    after = ("constant-folding",)

    def rewrite(self, graph: Graph, ctx) -> bool:
        changed = False
        for node in list(graph.nodes):
            keep = _noop_input(graph, node)
            if keep and util.bypass(graph, node, keep, node.outputs[0]):
                changed = True
        return changed


class DeadCodeElimination(util.StandardPass):
    """Remove nodes whose outputs nothing reads, unused initializers and orphan values."""

    name = "dce"
    level = "O1"
    after = ("constant-folding", "noop-elimination", "cse")

    def rewrite(self, graph: Graph, ctx) -> bool:
        return eliminate_dead_code(graph)


def eliminate_dead_code(graph: Graph) -> bool:
    needed = set(graph.outputs)
    kept: list[Node] = []
    for node in reversed(graph.nodes):
        if any(o and o in needed for o in node.outputs):
            kept.append(node)
            needed.update(n for n in (*node.inputs, *node.implicit_inputs) if n)
    changed = len(kept) != len(graph.nodes)
    if changed:
        kept.reverse()
        graph.nodes = kept
        util.release(graph)
    referenced = needed | set(graph.inputs) | {o for n in graph.nodes for o in n.outputs}
    for name in [n for n in graph.values if n not in referenced]:
        if graph.values[name].constant is not None:
            changed = True
        del graph.values[name]
    return changed


class CommonSubexpressionElimination(util.StandardPass):
    """Merge nodes computing the same op on the same inputs with the same attributes, and
    identical small constants."""

    name = "cse"
    level = "O1"
    after = ("constant-folding",)
    MAX_CONSTANT = 1 << 16        # constants up to this many elements are compared by content

    def rewrite(self, graph: Graph, ctx) -> bool:
        rename: dict[str, str] = {}
        implicit = {n for node in graph.nodes for n in node.implicit_inputs}
        protected = set(graph.outputs) | implicit
        seen_const: dict[tuple, str] = {}
        for name, v in list(graph.values.items()):
            c = v.constant
            if c is None or c.size > self.MAX_CONSTANT or name in protected \
                    or util.const(graph, name) is None or c.dtype == object:
                continue
            key = (c.dtype.str, c.shape, c.tobytes())
            if key in seen_const:
                rename[name] = seen_const[key]
            else:
                seen_const[key] = name
        seen: dict[tuple, Node] = {}
        kept: list[Node] = []
        for node in graph.nodes:
            if rename:
                node.inputs = [rename.get(n, n) for n in node.inputs]
            key = _node_key(node)
            other = seen.get(key) if key is not None else None
            if other is not None and not any(o in protected for o in node.outputs if o) \
                    and len(other.outputs) == len(node.outputs) \
                    and all(t or not m for m, t in zip(node.outputs, other.outputs)):
                rename.update((m, t) for m, t in zip(node.outputs, other.outputs) if m)
                continue
            if key is not None and other is None:
                seen[key] = node
            kept.append(node)
        if not rename:
            return False
        graph.nodes = kept
        util.release(graph)
        for name in rename:
            if name in graph.values and not util.consumers(graph, name) and name not in graph.inputs:
                del graph.values[name]
        return True


def _node_key(node: Node) -> tuple | None:
    if node.subgraphs or node.op_type in NONDETERMINISTIC or node.implicit_inputs:
        return None
    attrs = []
    for k in sorted(node.attributes):
        v = node.attributes[k]
        if isinstance(v, np.ndarray):
            if v.size > 4096:
                return None
            v = ("nd", v.dtype.str, v.shape, v.tobytes() if v.dtype != object else repr(v))
        elif isinstance(v, list):
            if any(isinstance(x, np.ndarray) for x in v):
                return None
            v = tuple(v)
        elif not isinstance(v, (int, float, str, type(None))):
            v = repr(v)
        attrs.append((k, v))
    return (node.domain, node.op_type, node.version, tuple(node.inputs), tuple(attrs),
            len(node.outputs))
