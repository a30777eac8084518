"""The ``Runtime``: one plugin manager, plugins found through the ``ronn`` entry-point group.

Entry points are loaded lazily, once, each in its own ``try``: a broken plugin is recorded with
its error (``ronn plugins`` shows it) and never stops the others. ``RONN_PLUGINS=a,b`` limits
which entry points load. ``Runtime(plugins=[obj], discover=False)`` builds an isolated runtime.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import threading
import traceback
from dataclasses import dataclass, field
from typing import Any, Iterable

import importlib_metadata
import pluggy

from ronn_core import hookspecs
from ronn_core.bench_suite import BenchSuite
from ronn_core.errors import PluginError
from ronn_core.kernel_spec import KernelSpec, kernels_in
from ronn_core.modules import SessionModule
from ronn_core.passes import LEVELS, Pass
from ronn_core.provider import ExecutionProvider
from ronn_core.registry import KernelRegistry
from ronn_core.schema import OpSchema, SchemaRegistry

ENTRY_POINT_GROUP = "ronn"


@dataclass
class PluginInfo:
    """What ``ronn plugins`` reports about one plugin."""

    name: str
    distribution: str | None = None
    version: str | None = None
    module: str | None = None
    source: str = "entry point"          # or "runtime" for objects given to Runtime(plugins=...)
    error: str | None = None
    registered: dict[str, list[str]] = field(default_factory=dict)

    @property
    def kinds(self) -> list[str]:
        return sorted(k for k, items in self.registered.items() if items)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "distribution": self.distribution, "version": self.version,
                "module": self.module, "source": self.source, "kinds": self.kinds,
                "registered": self.registered, "error": self.error}


_CONTRIBUTIONS = {"ronn_operators": "operators", "ronn_providers": "providers",
                  "ronn_passes": "passes", "ronn_modules": "modules",
                  "ronn_bench_suites": "bench_suites"}
_OBSERVERS = ("ronn_session_created", "ronn_run_started", "ronn_run_finished", "ronn_commands")


class Runtime:
    """Owns the plugin manager and the registries collected from the plugins."""

    def __init__(self, plugins: Iterable[Any] = (), *, discover: bool = True,
                 allowlist: Iterable[str] | None = None):
        self.pm = pluggy.PluginManager("ronn")
        self.pm.add_hookspecs(hookspecs)
        self._extra = list(plugins)
        self._discover = discover
        env = os.environ.get("RONN_PLUGINS")
        if allowlist is None and env:
            allowlist = [p.strip() for p in env.split(",") if p.strip()]
        self.allowlist = None if allowlist is None else set(allowlist)
        self._infos: dict[str, PluginInfo] = {}
        self._loaded = False
        self._lock = threading.RLock()
        self._kernels = KernelRegistry()
        self._schemas = SchemaRegistry()
        self._providers: dict[str, type[ExecutionProvider]] = {}
        self._passes: dict[str, Pass] = {}
        self._modules: dict[str, type[SessionModule]] = {}
        self._bench_suites: dict[str, BenchSuite] = {}
        if os.environ.get("RONN_TRACE_PLUGINS"):
            self.pm.trace.root.setwriter(lambda msg: print(msg, end="", file=sys.stderr))
            self.pm.enable_tracing()

    # -- loading ------------------------------------------------------------------------------

    def load(self) -> "Runtime":
        """Discover and load plugins (once), then collect what they register."""
        with self._lock:
            if self._loaded:
                return self
            self._loaded = True
            if self._discover:
                self._load_entry_points()
            for obj in self._extra:
                self._register_object(obj)
            self._collect()
        return self

    def _load_entry_points(self) -> None:
        seen: set[str] = set()
        for ep in importlib_metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in seen:
                continue
            seen.add(ep.name)
            dist = getattr(ep, "dist", None)
            info = PluginInfo(ep.name, dist.name if dist else None,
                              dist.version if dist else None, ep.value)
            if self.allowlist is not None and ep.name not in self.allowlist:
                continue
            self._infos[ep.name] = info
            try:
                obj = ep.load()
                self.pm.register(obj, name=ep.name)
            except Exception as exc:  # a broken plugin is reported, never fatal
                info.error = _one_line(exc)

    def _register_object(self, obj: Any) -> None:
        name = getattr(obj, "__name__", None) or type(obj).__name__
        if self.pm.is_registered(obj):
            return
        if self.pm.has_plugin(name):
            name = f"{name}-{id(obj):x}"
        try:
            self.pm.register(obj, name=name)
            self._infos[name] = PluginInfo(name, module=getattr(obj, "__name__", None),
                                           source="runtime")
        except Exception as exc:
            self._infos[name] = PluginInfo(name, source="runtime", error=_one_line(exc))

    def register(self, plugin: Any) -> None:
        """Add a plugin object after construction; registries are rebuilt."""
        with self._lock:
            self.load()
            self._register_object(plugin)
            self._collect()

    # -- collecting contributions -------------------------------------------------------------

    def _collect(self) -> None:
        self._kernels = KernelRegistry()
        self._schemas = SchemaRegistry()
        self._providers, self._passes, self._modules = {}, {}, {}
        self._bench_suites = {}
        for info in self._infos.values():
            info.registered = {}
        trace = self.pm.trace.root.get("hook")
        for hook_name, kind in _CONTRIBUTIONS.items():
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                trace(hook_name, {"plugin": impl.plugin_name})
                info = self._infos.setdefault(impl.plugin_name, PluginInfo(impl.plugin_name))
                items = info.registered.setdefault(kind, [])
                register = _Recorder(self, kind, impl.plugin_name, items)
                try:
                    impl.function(register=register)
                except Exception as exc:
                    info.error = f"{hook_name} failed: {_one_line(exc)}"
        for hook_name in _OBSERVERS:
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                info = self._infos.setdefault(impl.plugin_name, PluginInfo(impl.plugin_name))
                info.registered.setdefault("observers", []).append(hook_name)

    def _add(self, kind: str, plugin: str, obj: Any) -> list[str]:
        if kind == "operators" and isinstance(obj, OpSchema):
            from dataclasses import replace
            self._schemas.add(replace(obj, plugin=plugin))
            return [f"schema {obj.domain}::{obj.op_type}-{obj.since}"]
        if kind == "operators":
            specs = [obj] if isinstance(obj, KernelSpec) else kernels_in(obj)
            if not specs:
                raise PluginError(f"plugin {plugin!r} registered {obj!r} as operators, but it "
                                  f"is neither a @kernel function, a module of them, a "
                                  f"KernelSpec nor an OpSchema")
            names = []
            for spec in specs:
                spec = dataclasses.replace(spec, plugin=plugin)
                self._kernels.add(spec)
                names.append(f"{spec.domain + '::' if spec.domain else ''}{spec.op_type}"
                             f"-{spec.since}{'@' + spec.provider if spec.provider else ''}")
            return names
        if kind == "providers":
            if not (isinstance(obj, type) and issubclass(obj, ExecutionProvider) and obj.name):
                raise PluginError(f"plugin {plugin!r} registered {obj!r} as a provider; expected "
                                  f"an ExecutionProvider subclass with a name")
            obj.plugin = plugin
            self._providers[obj.name] = obj
            return [obj.name]
        if kind == "passes":
            if not (isinstance(obj, Pass) and obj.name and obj.level in LEVELS):
                raise PluginError(f"plugin {plugin!r} registered {obj!r} as a pass; expected a "
                                  f"Pass instance with a name and a level in {LEVELS}")
            obj.plugin = plugin
            self._passes[obj.name] = obj
            return [obj.name]
        if kind == "bench_suites":
            if not (isinstance(obj, BenchSuite) and obj.name and callable(obj.run)):
                raise PluginError(f"plugin {plugin!r} registered {obj!r} as a bench suite; "
                                  f"expected a BenchSuite with a name and a run callable")
            self._bench_suites[obj.name] = dataclasses.replace(obj, plugin=plugin)
            return [obj.name]
        if not (isinstance(obj, type) and issubclass(obj, SessionModule) and obj.name):
            raise PluginError(f"plugin {plugin!r} registered {obj!r} as a session module; "
                              f"expected a SessionModule subclass with a name")
        obj.plugin = plugin
        self._modules[obj.name] = obj
        return [obj.name]

    # -- what the plugins gave ----------------------------------------------------------------

    @property
    def kernels(self) -> KernelRegistry:
        return self.load()._kernels

    @property
    def schemas(self) -> SchemaRegistry:
        return self.load()._schemas

    @property
    def providers(self) -> dict[str, type[ExecutionProvider]]:
        return dict(self.load()._providers)

    @property
    def passes(self) -> dict[str, Pass]:
        return dict(self.load()._passes)

    @property
    def modules(self) -> dict[str, type[SessionModule]]:
        return dict(self.load()._modules)

    @property
    def bench_suites(self) -> dict[str, BenchSuite]:
        return dict(self.load()._bench_suites)

    def plugins(self) -> list[PluginInfo]:
        """Every plugin seen, loaded or broken, sorted by name."""
        return sorted(self.load()._infos.values(), key=lambda i: i.name)

    def has_hook_impls(self, hook_name: str) -> bool:
        return bool(getattr(self.load().pm.hook, hook_name).get_hookimpls())


class _Recorder:
    """The ``register`` callable handed to one plugin's contribution hook."""

    def __init__(self, runtime: Runtime, kind: str, plugin: str, items: list[str]):
        self._runtime, self._kind, self._plugin, self._items = runtime, kind, plugin, items

    def __call__(self, *objs: Any) -> None:
        for obj in objs:
            self._items.extend(self._runtime._add(self._kind, self._plugin, obj))


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    where = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    loc = f" ({where[0].filename.rsplit('/', 1)[-1]}:{where[0].lineno})" if where else ""
    return f"{type(exc).__name__}: {text[0] if text else ''}{loc}"


_default: Runtime | None = None
_default_lock = threading.Lock()


def default_runtime() -> Runtime:
    """The process-wide runtime (entry points discovered on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Runtime()
        return _default


def reset_default_runtime() -> None:
    """Forget the process-wide runtime (tests; after installing a plugin in-process)."""
    global _default
    with _default_lock:
        _default = None
