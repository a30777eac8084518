"""The kernel registry: kernels keyed by (domain, op, since, provider), with version resolution."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from ronn_core.errors import PluginError
from ronn_core.kernel_spec import KernelSpec


@dataclass(frozen=True)
class KernelConflict:
    """Two plugins registered the same kernel key; ``winner`` is the one kept."""

    key: tuple
    winner: KernelSpec
    loser: KernelSpec


class KernelRegistry:
    """Every registered kernel. ``resolve`` applies ONNX's rule: highest ``since`` <= opset."""

    def __init__(self) -> None:
        self._by_key: dict[tuple, KernelSpec] = {}
        self._by_op: dict[tuple[str, str], list[KernelSpec]] = {}
        self.conflicts: list[KernelConflict] = []

    def add(self, spec: KernelSpec) -> None:
        if not isinstance(spec, KernelSpec) or not callable(spec.fn):
            raise PluginError(f"expected a KernelSpec with a callable kernel, got {spec!r}")
        if spec.since < 1:
            raise PluginError(f"kernel {spec.op_type!r}: since must be >= 1, got {spec.since}")
        old = self._by_key.get(spec.key)
        if old is not None and old.fn is not spec.fn:
            winner, loser = sorted((old, spec), key=lambda s: (-s.priority, s.plugin or ""))
            self.conflicts.append(KernelConflict(spec.key, winner, loser))
            warnings.warn(f"kernel {_label(spec.key)} is registered by both {old.plugin!r} and "
                          f"{spec.plugin!r}; using {winner.plugin!r} (priority {winner.priority})",
                          stacklevel=2)
            if winner is old:
                return
            self._by_op[(spec.domain, spec.op_type)].remove(old)
        elif old is not None:
            return
        self._by_key[spec.key] = spec
        self._by_op.setdefault((spec.domain, spec.op_type), []).append(spec)

    def resolve(self, domain: str, op_type: str, version: int, provider: str,
                use_reference: bool = True) -> KernelSpec | None:
        """The kernel a provider runs for ``op_type`` at opset ``version``, or None.

        Among kernels for this provider (and reference kernels when ``use_reference``), the one
        with the highest ``since`` <= ``version`` wins; a provider's own kernel beats a reference
        kernel of the same ``since``.
        """
        best: KernelSpec | None = None
        for spec in self._by_op.get((domain, op_type), ()):
            if spec.since > version:
                continue
            if spec.provider == provider or (use_reference and spec.provider is None):
                if best is None or (spec.since, spec.provider is not None) > \
                        (best.since, best.provider is not None):
                    best = spec
        return best

    def versions(self, domain: str, op_type: str) -> list[int]:
        return sorted({s.since for s in self._by_op.get((domain, op_type), ())})

    def domains(self) -> set[str]:
        return {d for d, _ in self._by_op}

    def __iter__(self):
        return iter(sorted(self._by_key.values(),
                           key=lambda s: (s.domain, s.op_type, s.since, s.provider or "")))

    def __len__(self) -> int:
        return len(self._by_key)


def _label(key: tuple) -> str:
    domain, op, since, provider = key
    return f"{domain or 'ai.onnx'}::{op} (since {since}, provider {provider or 'reference'})"
