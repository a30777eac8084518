"""``Session``: load -> optimize -> partition -> plan, then ``run(feeds)`` over the plan."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import os
import threading
import time
import warnings
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ronn_core.batch import batch_blocker, split_outputs, stack_feeds
from ronn_core.compiler import compile_graph
from ronn_core.errors import ConfigValueError, FeedError, ProviderError, UnknownOutputError
from ronn_core.feeds import FeedValidator, ValueInfo
from ronn_core.graph import Graph
from ronn_core.onnx_io import LoadedModel
from ronn_core.passes import PassContext, PassRecord, check_level, select_passes
from ronn_core.profiling import Profile
from ronn_core.provider import ExecutionProvider
from ronn_core.runtime import Runtime, default_runtime
from ronn_core.schema import apply_schemas

DEFAULT_LEVEL = "O3"   # like onnxruntime's ORT_ENABLE_ALL: every safe optimization on
_EXECUTOR_LOCK = threading.Lock()   # guards the lazy creation of sessions' own worker pools


def graph_inputs(graph: Graph) -> tuple[list[ValueInfo], list[ValueInfo]]:
    """(required inputs, initializers that may be overridden) of a graph."""
    required = [ValueInfo(n, graph.value(n).type) for n in graph.inputs
                if not graph.value(n).is_constant]
    overridable = [ValueInfo(n, graph.value(n).type) for n in graph.inputs
                   if graph.value(n).is_constant]
    return required, overridable


def _kept_as_is(value: Any) -> bool:
    """Whether a run returns this output as it is (arrays, sequences, maps, None, device arrays)."""
    return (isinstance(value, (np.ndarray, list, dict)) or value is None
            or hasattr(value, "__cuda_array_interface__"))


class Session:
    """A model prepared for repeated runs on an ordered list of execution providers."""

    def __init__(self, model: LoadedModel | Graph, *, optimization_level: str = DEFAULT_LEVEL,
                 providers: Iterable[Any] | None = None, provider: str | None = None,
                 threads: int | None = None,
                 provider_options: Mapping[str, Mapping[str, Any]] | None = None,
                 enable_passes: Iterable[str] = (), disable_passes: Iterable[str] = (),
                 profiling: bool = False, modules: Mapping[str, Mapping[str, Any]] | None = None,
                 base_dir: str | os.PathLike | None = None, runtime: Runtime | None = None):
        self.runtime = runtime or default_runtime()
        #: the loaded model's metadata (path, IR version, producer...), without its graph: the
        #: session optimizes a copy (``graph``), and weights a pass replaced are not kept twice
        self.model = dataclasses.replace(model, graph=None) \
            if isinstance(model, LoadedModel) else None
        model_path = getattr(self.model, "path", None)
        #: where relative paths in module configs resolve: the config file's folder, else the
        #: model file's folder, else the working directory
        self.base_dir = Path(base_dir) if base_dir is not None else (
            Path(model_path).parent if model_path else Path.cwd())
        source = model.graph if isinstance(model, LoadedModel) else model
        self.optimization_level = check_level(optimization_level)
        if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool)
                                    or threads < 1):
            raise ConfigValueError(f"threads = {threads!r}: expected a positive integer or None")
        self.threads = threads
        self._providers = self._make_providers(provider, providers, provider_options or {})
        self.provider_names = [p.name for p in self._providers]

        #: the optimized graph as compiled; the constants kernels took are released from it
        self.graph = source.copy()
        apply_schemas(self.graph, self.runtime.schemas)
        self.pass_log: list[PassRecord] = []
        self._optimize(list(enable_passes), list(disable_passes))
        self.graph.toposort()
        self.plan, self.placement = compile_graph(self.graph, self._providers)
        self._release_constants()

        required, overridable = graph_inputs(self.graph)
        self.inputs = required
        self.outputs = [ValueInfo(n, self.graph.value(n).type) for n in self.graph.outputs]
        self._validate = FeedValidator(required, overridable)
        self._output_set = set(self.graph.outputs)
        self._run_contexts = [c for c in (p.run_context() for p in self._providers) if c]
        self.profiling = bool(profiling)
        self._profile = Profile(self.plan.steps) if self.profiling else None
        self._modules = self._make_modules(modules or {})
        self._observe = (self.runtime.has_hook_impls("ronn_run_started")
                         or self.runtime.has_hook_impls("ronn_run_finished"))
        self.runtime.pm.hook.ronn_session_created(session=self)

    # -- construction -------------------------------------------------------------------------

    def _release_constants(self) -> None:
        """Let ``graph`` drop the constants the plan does not hold: weights kernels took (and
        may have packed), so the session keeps one copy. Their values stay in the graph
        without an array (``constant`` None)."""
        held = self.plan.constant_names
        for name, value in self.graph.values.items():
            if value.constant is not None and name not in held:
                value.constant = None

    def _make_providers(self, provider, providers, options) -> list[ExecutionProvider]:
        if provider is not None and providers is not None:
            raise ConfigValueError("give either provider= or providers=, not both")
        wanted = [provider] if provider is not None else (
            ["cpu"] if providers is None else list(providers))
        if not wanted:
            raise ConfigValueError("providers is empty; name at least one, e.g. ['cpu']")
        registered = self.runtime.providers
        by_ort = {cls.ort_name: name for name, cls in registered.items() if cls.ort_name}
        made: list[ExecutionProvider] = []
        skipped: list[str] = []
        for entry in wanted:
            asked, opts = (entry if isinstance(entry, tuple) else (entry, None))
            name = by_ort.get(asked, asked)
            cls = registered.get(name)
            if cls is None:
                from ronn_core.config import nearest_hint
                raise ProviderError(f"unknown execution provider {name!r}"
                                    f"{nearest_hint(name, registered)}; installed providers: "
                                    f"{sorted(registered) or 'none (pip install ronn-provider-cpu)'}")
            reason = cls.unavailable_reason()
            if reason:
                skipped.append(f"{name} ({reason})")
                continue
            merged = {**options.get(asked, {}), **options.get(name, {}), **(opts or {})}
            made.append(cls(self.runtime, options=merged, threads=self.threads))
        if not made:
            raise ProviderError(f"no requested provider is available here: {'; '.join(skipped)}")
        if skipped:
            warnings.warn(f"providers not available, falling back to "
                          f"{[p.name for p in made]}: {'; '.join(skipped)}", stacklevel=3)
        self.unavailable_providers = skipped
        return made

    def _optimize(self, enable: list[str], disable: list[str]) -> None:
        passes = select_passes(self.runtime.passes, self.optimization_level,
                               providers=[p.name for p in self._providers],
                               enable=enable, disable=disable)
        options = {"ir_version": self.model.ir_version} if self.model else {}
        ctx = PassContext(providers=[p.name for p in self._providers], options=options,
                          log=self.pass_log)
        for p in passes:
            before, start = len(self.graph.nodes), time.perf_counter()
            changed = bool(p.run(self.graph, ctx))
            self.pass_log.append(PassRecord(p.name, changed, before, len(self.graph.nodes),
                                            time.perf_counter() - start))

    def _make_modules(self, configs: Mapping[str, Mapping[str, Any]]) -> list:
        available = self.runtime.modules
        made = []
        for name, config in configs.items():
            cls = available.get(name)
            if cls is None:
                from ronn_core.config import nearest_hint
                raise ConfigValueError(f"no session module named {name!r}"
                                       f"{nearest_hint(name, available)}; installed modules: "
                                       f"{sorted(available) or 'none'}")
            made.append(cls(self, dict(config)))
        return made

    # -- running ------------------------------------------------------------------------------

    def run(self, feeds: Mapping[str, Any], output_names: Iterable[str] | None = None, *,
            output_device: str = "cpu") -> dict[str, Any]:
        """Run the model; return ``{output name: array}`` (all outputs unless named).

        ``output_device`` (``"cuda"`` for the gpu provider) leaves the outputs that a device
        provider computed on its device (like onnxruntime's IO binding); the others are numpy.
        Inputs may be device arrays (``__cuda_array_interface__``) where a device provider
        reads them.
        """
        if output_names is None:
            names = list(self.graph.outputs)
        else:
            names = list(output_names)
            unknown = [n for n in names if n not in self._output_set]
            if unknown:
                raise UnknownOutputError(f"unknown output(s) {unknown}; the model's outputs are "
                                         f"{self.graph.outputs}")
        plan = self.plan if output_device == "cpu" else self._device_plan(output_device)
        checked = self._validate(feeds)
        if not self._modules:
            return self._run_checked(checked, names, plan)
        call = lambda f: self._run_checked(f, names, plan)  # noqa: E731
        for module in reversed(self._modules):
            call = (lambda m, nxt: (lambda f: m.run(f, nxt)))(module, call)
        return call(checked)

    def _device_plan(self, device: str):
        devices = {p.device for p in self._providers} - {"cpu"}
        if device not in devices:
            raise ConfigValueError(f"output_device={device!r}: expected 'cpu' or the device of "
                                   f"one of this session's providers {sorted(devices)}")
        plan = getattr(self, "_plan_on_device", None)
        if plan is None:
            plan = self._plan_on_device = self.plan.keeping_outputs_on_device()
        return plan

    def _run_checked(self, feeds: dict[str, Any], names: list[str],
                     plan=None) -> dict[str, Any]:
        plan = plan or self.plan
        hook = self.runtime.pm.hook if self._observe else None
        if hook:
            hook.ronn_run_started(session=self, feeds=feeds)
        start = time.perf_counter()
        events = [] if self._profile is not None else None
        contexts = self._run_contexts
        if not contexts:
            values = plan.run(feeds, names, profile=events)
        elif len(contexts) == 1:
            with contexts[0]():
                values = plan.run(feeds, names, profile=events)
        else:
            with contextlib.ExitStack() as stack:
                for ctx in contexts:
                    stack.enter_context(ctx())
                values = plan.run(feeds, names, profile=events)
        if events is not None:
            self._profile.add_run(events)
        outputs = {n: (v if type(v) is np.ndarray or _kept_as_is(v) else np.asarray(v))
                   for n, v in zip(names, values)}
        if hook:
            hook.ronn_run_finished(session=self, outputs=outputs,
                                   seconds=time.perf_counter() - start)
        return outputs

    def learn(self, feeds: Mapping[str, Any], label: Any) -> dict[str, Any]:
        """Hand labelled feedback to every enabled module that learns (continual learning).

        Returns ``{module name: what its learn() returned}``.
        """
        checked = self._validate(feeds)
        results = {}
        for module in self._modules:
            result = module.learn(checked, label)
            if result is not NotImplemented:
                results[module.name] = result
        if not results:
            raise ConfigValueError(f"no enabled session module learns from feedback; enabled: "
                                   f"{[m.name for m in self._modules] or 'none'}")
        return results

    # -- async and batched runs ---------------------------------------------------------------
    #
    # Concurrent runs of one session are safe because ``run`` keeps all per-run state local:
    # the feed validator builds a fresh dict per call and ``Plan.run`` copies its slot template
    # per call, so runs share only read-only constants and kernels (which must not keep state).

    @property
    def executor(self) -> Executor:
        """The worker pool ``run_async`` uses by default (made on first use, closed by close())."""
        pool = getattr(self, "_executor", None)
        if pool is None:
            with _EXECUTOR_LOCK:
                pool = getattr(self, "_executor", None)
                if pool is None:
                    pool = ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1),
                                              thread_name_prefix="ronn-session")
                    self._executor = pool
        return pool

    async def run_async(self, feeds: Mapping[str, Any], output_names: Iterable[str] | None = None,
                        *, executor: Executor | None = None) -> dict[str, Any]:
        """``run`` on a worker pool (``executor``, else the session's own), awaitable."""
        loop = asyncio.get_running_loop()
        names = None if output_names is None else list(output_names)
        return await loop.run_in_executor(executor or self.executor,
                                          functools.partial(self.run, feeds, names))

    @property
    def batch_blocker(self) -> str | None:
        """Why ``run_batch`` runs requests one by one on this model, or None if it stacks them."""
        if not hasattr(self, "_batch_blocker"):
            self._batch_blocker = batch_blocker(self.inputs, self.outputs)
        return self._batch_blocker

    def run_batch(self, feeds_list: Sequence[Mapping[str, Any]],
                  output_names: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Run several requests; one stacked run along dim 0 when the model allows it.

        The model allows it when every input and output has a symbolic first dim (see
        ``batch_blocker``); otherwise (or with one request) the requests run one by one.
        Returns one ``{output name: array}`` per request, in order.
        """
        feeds_list = list(feeds_list)
        names = None if output_names is None else list(output_names)
        checked = []
        for index, feeds in enumerate(feeds_list):
            try:
                checked.append(self._validate(feeds))
            except FeedError as exc:
                raise type(exc)(f"request {index}: {exc}") from exc
        overrides = {n for f in checked for n in f} - {i.name for i in self.inputs}
        if len(checked) < 2 or self.batch_blocker or overrides:
            return [self.run(f, names) for f in checked]
        stacked, sizes = stack_feeds(checked)
        outputs = self.run(stacked, names)
        try:
            return split_outputs(outputs, sizes)
        except FeedError as exc:   # an output lost the batch dim: the model mixes rows
            self._batch_blocker = str(exc)
            warnings.warn(f"run_batch: {exc}; running requests one by one from now on",
                          stacklevel=2)
            return [self.run(f, names) for f in checked]

    # -- introspection ------------------------------------------------------------------------

    def module(self, name: str):
        """The enabled session module called ``name``."""
        for module in self._modules:
            if module.name == name:
                return module
        raise ConfigValueError(f"session module {name!r} is not enabled on this session; "
                               f"enabled: {[m.name for m in self._modules] or 'none'}")

    @property
    def modules(self) -> list:
        return list(self._modules)

    @property
    def providers(self) -> list[ExecutionProvider]:
        return list(self._providers)

    def profile(self) -> Profile:
        """Per-node and per-op-type timings (create the session with ``profiling=True``)."""
        if self._profile is None:
            raise ConfigValueError("profiling is off for this session; create it with "
                                   "profiling=True")
        return self._profile

    def close(self) -> None:
        for module in self._modules:
            module.close()
        pool = getattr(self, "_executor", None)
        if pool is not None:
            self._executor = None
            pool.shutdown(wait=True)

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"<Session {len(self.plan.steps)} steps on {self.provider_names}, "
                f"level {self.optimization_level}>")

    @classmethod
    def from_config(cls, path, **overrides) -> "Session":
        """Build a session from a TOML file (see ``ronn_core.config``)."""
        from ronn_core.config import load_config
        return load_config(path).create_session(**overrides)
