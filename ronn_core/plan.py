"""The execution plan: a flat list of steps over integer value slots, built once.

Slot 0 always holds ``None`` (absent optional inputs read it); slot 1 takes absent outputs.
A value's slot is cleared right after its last use, so memory follows liveness. ``run()`` is a
tight loop: no name lookups and no validation per step.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable

import numpy as np

from ronn_core.errors import KernelError, ModelError, RonnError
from ronn_core.provider import Step

_ABSENT, _TRASH = 0, 1


class Plan:
    """Compiled steps of one graph. ``inputs`` are fed by name; ``outer`` by enclosing graphs."""

    def __init__(self, steps: list[Step], *, inputs: Iterable[str], outputs: Iterable[str],
                 constants: dict[str, Any], outer: Iterable[str] = (),
                 overridable: Iterable[str] = ()):
        self.steps = steps
        self.input_names = list(inputs)
        self.output_names = list(outputs)
        self.outer_names = list(outer)
        slots: dict[str, int] = {"": _ABSENT}
        for name in (*self.input_names, *self.outer_names, *constants):
            slots.setdefault(name, len(slots) + 1)
        for step in steps:
            for name in (*step.inputs, *step.outputs):
                if name:
                    slots.setdefault(name, len(slots) + 1)
        for name in self.output_names:
            if name not in slots:
                raise ModelError(f"graph output {name!r} is produced by no node and is neither an "
                                 f"input nor an initializer")
        self._constants, self._overridable = constants, list(overridable)
        self.slot_of = slots
        self.n_slots = len(slots) + 1
        self._template: list[Any] = [None] * self.n_slots
        for name, value in constants.items():
            self._template[slots[name]] = value
        self._feed_slots = [(name, slots[name]) for name in (*self.input_names, *self.outer_names)]
        self._override_slots = [(name, slots[name]) for name in self._overridable]
        self._output_slots = {name: slots[name] for name in self.output_names}
        keep = {slots[n] for n in (*self.output_names, *constants)} | {_ABSENT}
        self._program = self._build_program(slots, keep)

    def _build_program(self, slots: dict[str, int], keep: set[int]):
        last_use: dict[int, int] = {}
        for i, step in enumerate(self.steps):
            for name in (*step.inputs, *step.outputs):
                if name:
                    last_use[slots[name]] = i
        for name, slot in self._feed_slots:
            last_use.setdefault(slot, -1)
        frees: list[list[int]] = [[] for _ in self.steps]
        for slot, i in last_use.items():
            if slot not in keep and i >= 0:
                frees[i].append(slot)
        program = []
        for i, step in enumerate(self.steps):
            ins = tuple(slots[n] if n else _ABSENT for n in step.inputs)
            outs = tuple(slots[n] if n else _TRASH for n in step.outputs)
            free = tuple(frees[i]) + ((_TRASH,) if _TRASH in outs else ())
            program.append((step.fn, ins, outs, free))
        return tuple(program)

    @property
    def constant_names(self) -> frozenset[str]:
        """The constants this plan holds (the steps read them, or they are outputs)."""
        return frozenset(self._constants)

    def keeping_outputs_on_device(self) -> "Plan":
        """This plan without the final copies of graph outputs to the host (``output_device``)."""
        steps = [Step(_identity, list(s.inputs), list(s.outputs), [], s.provider,
                      label="KeepOnDevice") if s.output_copy else s for s in self.steps]
        return Plan(steps, inputs=self.input_names, outputs=self.output_names,
                    constants=self._constants, outer=self.outer_names,
                    overridable=self._overridable)

    # -- running ------------------------------------------------------------------------------

    def run(self, feeds: dict[str, Any], output_names: Iterable[str] | None = None,
            profile: list | None = None) -> list[Any]:
        """Run every step; return the requested outputs (all graph outputs by default)."""
        slots = self._template.copy()
        for name, slot in self._feed_slots:
            slots[slot] = feeds[name]
        for name, slot in self._override_slots:
            if name in feeds:
                slots[slot] = feeds[name]
        index = -1
        where = [-1]
        try:
            if profile is None:
                for index, (fn, ins, outs, free) in enumerate(self._program):
                    n_in = len(ins)             # the common arities skip building a list
                    if n_in == 1:
                        result = fn(slots[ins[0]])
                    elif n_in == 2:
                        result = fn(slots[ins[0]], slots[ins[1]])
                    elif n_in == 3:
                        result = fn(slots[ins[0]], slots[ins[1]], slots[ins[2]])
                    else:
                        result = fn(*[slots[i] for i in ins])
                    if type(result) is tuple:
                        if len(result) < len(outs):
                            raise KernelError(f"kernel returned {len(result)} outputs, the node "
                                              f"has {len(outs)}")
                        for o, r in zip(outs, result):
                            slots[o] = r
                    else:
                        slots[outs[0]] = result
                    for f in free:
                        slots[f] = None
            else:
                self._run_profiled(slots, profile, where)
        except Exception as exc:
            raise self._step_error(index if profile is None else where[0], slots, exc) from exc
        names = self.output_names if output_names is None else output_names
        return [slots[self._output_slots[n]] for n in names]

    def _run_profiled(self, slots: list[Any], profile: list, where: list[int]) -> None:
        clock = time.perf_counter_ns
        for index, (fn, ins, outs, free) in enumerate(self._program):
            where[0] = index
            start = clock()
            result = fn(*[slots[i] for i in ins])
            profile.append((index, start, clock() - start))
            if type(result) is tuple:
                if len(result) < len(outs):
                    raise KernelError(f"kernel returned {len(result)} outputs, the node has "
                                      f"{len(outs)}")
                for o, r in zip(outs, result):
                    slots[o] = r
            else:
                slots[outs[0]] = result
            for f in free:
                slots[f] = None

    def _step_error(self, index: int, slots: list[Any], exc: Exception) -> Exception:
        if index < 0 or index >= len(self.steps):
            return exc
        step = self.steps[index]
        if isinstance(exc, RonnError) and not isinstance(exc, KernelError):
            return exc
        _, ins, _, _ = self._program[index]
        shapes = ", ".join(f"{n or '<absent>'}: {_describe(slots[i])}"
                           for n, i in zip(step.inputs, ins))
        node = step.nodes[0].describe() if step.nodes else step.label
        cls = type(exc) if isinstance(exc, KernelError) else KernelError  # keep SandboxError...
        return cls(f"node {node} failed on provider {step.provider!r}: "
                           f"{type(exc).__name__}: {exc}; inputs: {shapes or 'none'}")

    # -- subgraphs ----------------------------------------------------------------------------

    def bind(self, outer: dict[str, Any]) -> Callable[..., list[Any]]:
        """A callable running this (sub)graph with the enclosing scope's values fixed."""
        def call(*inputs: Any) -> list[Any]:
            feeds = dict(outer)
            feeds.update(zip(self.input_names, inputs))
            for name in self.input_names[len(inputs):]:
                feeds.setdefault(name, None)
            return self.run(feeds)
        call.input_names = self.input_names
        call.output_names = self.output_names
        return call


def _identity(value: Any) -> Any:
    return value


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype}{list(value.shape)}"
    if value is None:
        return "None"
    if isinstance(value, list):
        return f"sequence of {len(value)}"
    return type(value).__name__
