"""CUDA graph capture of a whole graph's GPU steps (provider option ``cuda_graph=True``).

The first run copies the inputs into static device buffers and records every step's launches
into one CUDA graph; later runs copy new inputs into those buffers, replay the graph (one launch)
and copy the outputs out. Shapes must stay those of the first run: a run with other shapes
raises ``ConfigValueError`` (create the session without ``cuda_graph`` for dynamic shapes).
"""

from __future__ import annotations

from typing import Any

from ronn_core.errors import ConfigValueError
from ronn_core.provider import Step


def _run_steps(steps: list[Step], env: dict[str, Any]) -> None:
    for step in steps:
        result = step.fn(*[env.get(n) if n else None for n in step.inputs])
        if type(result) is tuple:
            for name, value in zip(step.outputs, result):
                if name:
                    env[name] = value
        elif step.outputs and step.outputs[0]:
            env[step.outputs[0]] = result


def captured_step(provider, steps: list[Step], graph) -> Step:
    produced = {n for s in steps for n in s.outputs if n}
    external: list[str] = []
    for s in steps:
        for n in s.inputs:
            if n and n not in produced and n not in external:
                external.append(n)
    outputs = [n for n in graph.outputs if n in produced]
    xp = provider.xp
    state: dict[str, Any] = {}

    def run(*values):
        if "replay" not in state:
            shapes = [getattr(v, "shape", None) for v in values]
            static = [xp.array(v, copy=True) if hasattr(v, "shape") else v for v in values]
            holder: dict[str, Any] = {}

            def body():
                env = dict(zip(external, static))
                _run_steps(steps, env)
                holder.update({n: env[n] for n in outputs})
            state.update(shapes=shapes, static=static, holder=holder,
                         replay=provider.backend.capture(body))
            state["replay"]()      # capture only records: run the graph once for real
        else:
            shapes = [getattr(v, "shape", None) for v in values]
            if shapes != state["shapes"]:
                raise ConfigValueError(
                    f"cuda_graph sessions need static shapes: captured with {state['shapes']}, "
                    f"got {shapes}; create the session without cuda_graph for dynamic shapes")
            for buf, v in zip(state["static"], values):
                if hasattr(buf, "shape"):
                    buf[...] = v
            state["replay"]()
        result = tuple(xp.array(state["holder"][n], copy=True) for n in outputs)
        return result if len(result) != 1 else result[0]

    return Step(run, external, outputs, [n for s in steps for n in s.nodes], provider.name,
                label="CudaGraph")
