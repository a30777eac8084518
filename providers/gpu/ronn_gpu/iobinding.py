"""Device inputs and outputs until ``Session.run(feeds, output_device="cuda")`` exists.

``bind(session)`` returns a runner whose ``run(feeds)`` accepts CuPy arrays (or any DLPack
device tensor) as inputs and returns the outputs that the gpu provider produced still on the
device: the plan's final CopyToHost steps are replaced by identities. Outputs computed by a
CPU provider stay numpy. Feeds are checked for names, dtypes and ranks here, since
``Session.run`` would try to turn device arrays into numpy.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from ronn_core.errors import InputShapeError, InputTypeError, MissingInputError, UnknownInputError
from ronn_core.plan import Plan


def _identity(value):
    return value


def device_plan(plan: Plan) -> Plan:
    """A copy of ``plan`` whose outputs are not copied to the host at the end."""
    outputs = set(plan.output_names)
    steps = []
    for step in plan.steps:
        if step.label == "CopyToHost" and step.outputs and step.outputs[0] in outputs:
            step = type(step)(_identity, list(step.inputs), list(step.outputs), [],
                              step.provider, label="KeepOnDevice")
        steps.append(step)
    constants = {name: plan._template[slot] for name, slot in plan.slot_of.items()
                 if slot < len(plan._template) and plan._template[slot] is not None}
    return Plan(steps, inputs=plan.input_names, outputs=plan.output_names,
                constants=constants, outer=plan.outer_names, overridable=[])


class DeviceRunner:
    """``run(feeds) -> {name: array}`` with device feeds accepted and outputs left on device."""

    def __init__(self, session):
        self.session = session
        self.plan = device_plan(session.plan)
        self._inputs = {i.name: i for i in session.inputs}

    def _check(self, feeds: Mapping[str, Any]) -> dict[str, Any]:
        checked = {}
        for name, value in feeds.items():
            info = self._inputs.get(name)
            if info is None:
                raise UnknownInputError(f"unknown input {name!r}; the model's inputs are "
                                        f"{list(self._inputs)}")
            if not hasattr(value, "shape") or not hasattr(value, "dtype"):
                value = np.asarray(value)
            if info.dtype is not None and np.dtype(value.dtype) != info.dtype:
                raise InputTypeError(f"input {name!r} expects {info.type_str} ({info.dtype}), "
                                     f"got {value.dtype}")
            if info.shape is not None and len(info.shape) != len(value.shape):
                raise InputShapeError(f"input {name!r} expects rank {len(info.shape)} "
                                      f"{info.shape}, got shape {list(value.shape)}")
            checked[name] = value
        missing = [n for n in self._inputs if n not in checked]
        if missing:
            raise MissingInputError(f"missing input(s) {missing}; got {sorted(checked)}")
        return checked

    def run(self, feeds: Mapping[str, Any]) -> dict[str, Any]:
        checked = self._check(feeds)
        import contextlib
        with contextlib.ExitStack() as stack:
            for provider in self.session.providers:
                ctx = provider.run_context()
                if ctx:
                    stack.enter_context(ctx())
            values = self.plan.run(checked)
        return dict(zip(self.plan.output_names, values))


def bind(session) -> DeviceRunner:
    return DeviceRunner(session)
