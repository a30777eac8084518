"""``ronn new-plugin NAME --kind op|provider|pass``: scaffold a plugin project that works as made.

The project has its own ``pyproject.toml`` (distribution ``ronn-NAME``, entry point in group
``ronn``), a package with ``plugin.py`` holding a small working example of the chosen kind, a
README and ``tests/test_plugin.py``, which passes out of the box: it loads the plugin into an
isolated ``Runtime``, so ``pytest`` works before anything is installed.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from string import Template

KINDS = ("op", "provider", "pass")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


def register(sub) -> None:
    p = sub.add_parser("new-plugin", help="scaffold a new plugin project",
                       description="Create NAME/ (or D/NAME/) with a pyproject.toml, a plugin "
                                   "module, a README and a test that passes as generated.")
    p.add_argument("name", metavar="NAME", help="plugin name, e.g. my-ops (distribution "
                                                "ronn-my-ops, package ronn_my_ops)")
    p.add_argument("--kind", choices=KINDS, default="op",
                   help="op: a custom-domain operator (schema + kernel); provider: an "
                        "execution provider; pass: a graph pass (default: op)")
    p.add_argument("--dir", default=".", metavar="D", help="where to create NAME/ (default: .)")
    p.add_argument("--domain", help="operator domain for --kind op (default: com.NAME)")
    p.add_argument("--force", action="store_true", help="write into an existing, non-empty folder")
    p.set_defaults(func=command)


def command(args) -> int:
    try:
        files = scaffold(args.name, args.kind, Path(args.dir), domain=args.domain,
                         force=args.force)
    except ValueError as exc:
        print(f"ronn: error: {exc}", file=sys.stderr)
        return 1
    root = files[0].parent
    names = plugin_names(args.name)
    print(f"created {args.kind} plugin {names['dist']} in {root}:")
    for f in files:
        print(f"  {f.relative_to(root)}")
    print(f"\nnext:\n  cd {root}\n  python -m pytest            # passes as generated\n"
          f"  pip install -e .            # then: ronn plugins  (lists {names['ep']!r})")
    return 0


def plugin_names(name: str, domain: str | None = None) -> dict[str, str]:
    """Distribution, package, entry-point, class and domain names derived from NAME."""
    if not _NAME.match(name):
        raise ValueError(f"plugin name {name!r}: use letters, digits, '-' and '_', starting "
                         f"with a letter (e.g. my-ops)")
    slug = re.sub(r"[-_]+", "-", name.lower())
    slug = slug[len("ronn-"):] if slug.startswith("ronn-") and len(slug) > 5 else slug
    ident = slug.replace("-", "_")
    return {
        "name": name, "slug": slug, "ep": ident, "dist": f"ronn-{slug}",
        "pkg": f"ronn_{ident}", "cls": "".join(p.title() for p in ident.split("_")),
        "domain": domain or f"com.{ident}",
    }


def scaffold(name: str, kind: str, where: Path, *, domain: str | None = None,
             force: bool = False) -> list[Path]:
    """Write the project; return the files written (the pyproject first)."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    names = plugin_names(name, domain)
    root = where / name
    if root.exists() and any(root.iterdir()) and not force:
        raise ValueError(f"{root} exists and is not empty (use --force to write into it)")
    names["kind"] = kind
    names["hooks"] = _HOOKS[kind]
    texts = {
        "pyproject.toml": _PYPROJECT,
        "README.md": _README_HEAD + _README_KIND[kind],
        f"{names['pkg']}/__init__.py": _INIT,
        f"{names['pkg']}/plugin.py": _PLUGIN[kind],
        "tests/test_plugin.py": _TEST_HEAD + _TEST[kind],
    }
    written = []
    for rel, template in texts.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(template).substitute(names), encoding="utf-8")
        written.append(path)
    return written


_HOOKS = {"op": "ronn_operators", "provider": "ronn_providers, ronn_operators",
          "pass": "ronn_passes"}

# -- templates (string.Template: $name / ${name} are substituted; $$ is a dollar) -------------

_PYPROJECT = '''\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "$dist"
version = "0.1.0"
description = "A RONN $kind plugin"
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["ronn", "numpy>=1.26"]

[project.optional-dependencies]
test = ["pytest>=8", "ronn-opset-onnx", "ronn-provider-cpu"]

# This makes it a RONN plugin: RONN loads every entry point in group "ronn".
[project.entry-points.ronn]
$ep = "$pkg.plugin"

[tool.setuptools.packages.find]
include = ["$pkg", "$pkg.*"]

[tool.pytest.ini_options]
testpaths = ["tests"]
'''

_INIT = '''\
"""$dist: a RONN $kind plugin. The hooks RONN calls are in ``$pkg.plugin``."""

__version__ = "0.1.0"
'''

_README_HEAD = '''\
# $dist

A RONN $kind plugin, generated by `ronn new-plugin $name --kind $kind`.

RONN finds it through the entry point `$ep` in group `ronn` (see `pyproject.toml`), which points
at `$pkg/plugin.py`: the `@hookimpl` functions there ($hooks) are what RONN calls.

    python -m pytest        # the tests load the plugin into an isolated Runtime: no install needed
    pip install -e .        # install it; then
    ronn plugins            # lists `$ep` with what it registers
'''

_README_KIND = {
    "op": '''
This plugin adds the operator `ScaledTanh` (`Y = alpha * tanh(beta * X)`) in the domain
`$domain`: an `OpSchema` (inputs, attributes with types and defaults, type constraints) and a
numpy reference kernel (`@kernel`). Once installed:

    ronn ops --domain $domain

and any model with a `$domain` opset import runs it:

```python
import ronn
session = ronn.Model.load("model.onnx").create_session(providers=["cpu"])
```

To add an op: declare its `OpSchema`, write a `@kernel("Op", domain=DOMAIN, since=1)` function
(inputs positional, attributes keyword), and register both in `ronn_operators`. See RONN's
`docs/plugins.md` and the `plugins_example/` project for a larger example (a numba kernel and a
fusion pass).
''',
    "provider": '''
This plugin adds the execution provider `$ep`. It claims only the ops it has its own kernels
for (here `Relu`) because `uses_reference_kernels = False`; everything else falls back to the
next provider in the session's list:

```python
import ronn
session = ronn.Model.load("model.onnx").create_session(providers=["$ep", "cpu"])
session.placement      # Relu nodes on $ep, the rest on cpu (fallback=True)
```

Add kernels with `@kernel("Op", since=N, provider="$ep")`; override `claims`, `compile`,
`to_device`/`to_host` and `unavailable_reason` for a real device (see RONN's `docs/plugins.md`).
''',
    "pass": '''
This plugin adds the graph pass `$ep.remove_identity` (level O1): it removes `Identity` nodes by
making their readers read the input directly. Sessions at optimization level O1 or above run it;
`disable_passes=["$ep.remove_identity"]` turns it off, and `session.pass_log` records each run.

A pass is a `ronn_core.Pass` subclass with a `name`, a `level` ("O1".."O3"), optional
`after`/`before` constraints and `run(graph, ctx) -> bool` (True when it changed the graph); the
graph's outputs must stay the same. See RONN's `docs/plugins.md`.
''',
}

_PLUGIN = {
    "op": '''\
"""$dist: the operator ScaledTanh in domain $domain (schema + reference kernel)."""

from __future__ import annotations

import numpy as np

from ronn_core import Attr, Input, OpSchema, Output, hookimpl, kernel

DOMAIN = "$domain"

SCALED_TANH = OpSchema(
    "ScaledTanh", DOMAIN, since=1,
    inputs=(Input("X", "T"),),
    outputs=(Output("Y", "T"),),
    attributes=(Attr("alpha", float, 1.0, "output scale"), Attr("beta", float, 1.0, "input scale")),
    type_constraints={"T": ("tensor(float)", "tensor(double)")},
    doc="Y = alpha * tanh(beta * X)",
)


@kernel("ScaledTanh", domain=DOMAIN, since=1)
def scaled_tanh(x, *, alpha=1.0, beta=1.0):
    """Inputs arrive positionally, attributes as keywords (with the schema's defaults)."""
    return (alpha * np.tanh(beta * x)).astype(x.dtype, copy=False)


@hookimpl
def ronn_operators(register):
    register(SCALED_TANH, scaled_tanh)
''',
    "provider": '''\
"""$dist: the execution provider "$ep", which runs Relu itself and leaves the rest to others."""

from __future__ import annotations

import numpy as np

from ronn_core import ExecutionProvider, hookimpl, kernel

NAME = "$ep"


class ${cls}Provider(ExecutionProvider):
    """Claims the nodes it has its own kernels for; the session's next provider runs the rest."""

    name = NAME
    device = "cpu"                   # host memory: no copies to and from numpy
    uses_reference_kernels = False   # do not claim ops through the reference kernels
    default_options = {}             # option name -> default; unknown options are rejected

    @classmethod
    def unavailable_reason(cls):
        """Return why this provider cannot run here (missing library, no device), or None."""
        return None


@kernel("Relu", since=6, provider=NAME)
def relu(x):
    return np.maximum(x, x.dtype.type(0))


@hookimpl
def ronn_providers(register):
    register(${cls}Provider)


@hookimpl
def ronn_operators(register):
    register(relu)
''',
    "pass": '''\
"""$dist: the graph pass "$ep.remove_identity"."""

from __future__ import annotations

from ronn_core import Graph, Pass, PassContext, hookimpl


class RemoveIdentity(Pass):
    """Remove Identity nodes: their readers read the Identity's input instead."""

    name = "$ep.remove_identity"
    level = "O1"           # runs at O1 and above
    after = ()             # names of passes this one must follow (when both run)
    before = ()

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        changed = False
        for node in list(graph.nodes):
            if node.op_type != "Identity" or node.domain or not node.inputs or not node.inputs[0]:
                continue
            out = node.outputs[0]
            if out in graph.outputs or any(out in c.implicit_inputs
                                           for c in graph.consumers(out)):
                continue   # a graph output, or read by a subgraph: keep it
            graph.remove_node(node)
            graph.replace_uses(out, node.inputs[0])
            changed = True
        return changed


@hookimpl
def ronn_passes(register):
    register(RemoveIdentity())
''',
}

_TEST_HEAD = '''\
"""Tests for $dist: through an isolated Runtime (no install needed) and, once installed,
through its entry point."""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pytest
from onnx import TensorProto, helper

import ronn
import ronn_cpu.plugin
import ronn_opset_onnx.plugin
from ronn_core import Runtime

from $pkg import plugin


def runtime() -> Runtime:
    """The ai.onnx kernels, the cpu provider and this plugin; no entry points are read."""
    return Runtime(plugins=[ronn_opset_onnx.plugin, ronn_cpu.plugin, plugin], discover=False)


def make_model(nodes, inputs, outputs, opsets=None) -> bytes:
    opsets = {"": 17, **(opsets or {})}
    graph = helper.make_graph(nodes, "test", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v)
                                                    for d, v in opsets.items()])
    model.ir_version = 10
    return model.SerializeToString()


def tensor(name, shape=(2, 3)):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))


def test_the_plugin_registers_without_errors():
    [info] = [i for i in runtime().plugins() if i.module == plugin.__name__]
    assert info.error is None and info.kinds


@pytest.mark.skipif(not any(ep.name == "$ep" for ep in
                            importlib.metadata.entry_points(group="ronn")),
                    reason="not installed (pip install -e .)")
def test_the_installed_entry_point_loads():
    [info] = [i for i in Runtime().plugins() if i.name == "$ep"]
    assert info.error is None and info.distribution == "$dist"
'''

_TEST = {
    "op": '''

def test_scaled_tanh_runs_in_a_session():
    model = make_model([helper.make_node("ScaledTanh", ["x"], ["y"], domain="$domain",
                                         alpha=2.0, beta=0.5)],
                       [tensor("x")], [tensor("y")], opsets={"$domain": 1})
    session = ronn.Model.load(model).create_session(runtime=runtime())
    x = np.linspace(-3, 3, 6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_allclose(session.run({"x": x})["y"], 2.0 * np.tanh(0.5 * x), rtol=1e-6)


def test_the_schema_rejects_unknown_attributes():
    model = make_model([helper.make_node("ScaledTanh", ["x"], ["y"], domain="$domain",
                                         name="bad", gamma=1.0)],
                       [tensor("x")], [tensor("y")], opsets={"$domain": 1})
    with pytest.raises(ronn.RonnError, match="bad.*gamma"):
        ronn.Model.load(model).create_session(runtime=runtime())
''',
    "provider": '''

def test_relu_runs_on_this_provider_and_the_rest_falls_back():
    model = make_model([helper.make_node("Relu", ["x"], ["r"], name="relu"),
                        helper.make_node("Neg", ["r"], ["y"], name="neg")],
                       [tensor("x")], [tensor("y")])
    session = ronn.Model.load(model).create_session(providers=["$ep", "cpu"],
                                                    runtime=runtime())
    where = {p.node: p.provider for p in session.placement}
    assert where == {"relu": "$ep", "neg": "cpu"}
    x = np.array([[-1.0, 0.0, 2.0], [3.0, -4.0, 0.5]], np.float32)
    np.testing.assert_array_equal(session.run({"x": x})["y"], -np.maximum(x, 0))
''',
    "pass": '''

def identity_model() -> bytes:
    return make_model([helper.make_node("Identity", ["x"], ["i"]),
                       helper.make_node("Relu", ["i"], ["y"])],
                      [tensor("x")], [tensor("y")])


def test_the_pass_removes_identity_and_keeps_outputs():
    fast = ronn.Model.load(identity_model()).create_session(optimization_level="O1",
                                                            runtime=runtime())
    plain = ronn.Model.load(identity_model()).create_session(optimization_level="O0",
                                                             runtime=runtime())
    assert [n.op_type for n in fast.graph.nodes] == ["Relu"]
    assert [n.op_type for n in plain.graph.nodes] == ["Identity", "Relu"]
    assert any(r.name == "$ep.remove_identity" and r.changed for r in fast.pass_log)
    x = np.array([[-1.0, 0.0, 2.0], [3.0, -4.0, 0.5]], np.float32)
    np.testing.assert_array_equal(fast.run({"x": x})["y"], plain.run({"x": x})["y"])


def test_an_identity_that_is_a_graph_output_stays():
    model = make_model([helper.make_node("Identity", ["x"], ["y"])], [tensor("x")],
                       [tensor("y")])
    session = ronn.Model.load(model).create_session(runtime=runtime())
    assert [n.op_type for n in session.graph.nodes] == ["Identity"]
''',
}
