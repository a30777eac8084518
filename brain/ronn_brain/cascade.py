"""The cascade router (System 1 / System 2): a fast model answers unless the request looks hard."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from ronn_brain.options import Options, save_at_exit
from ronn_brain.rows import (as_rows, batch_rows, confidence, is_probability, merge_rows,
                             probabilities, run_rows, softmax, take)
from ronn_core.errors import ConfigValueError
from ronn_core.modules import SessionModule


class CascadeModule(SessionModule):
    """``[modules.cascade]``: run ``fast_model`` first; escalate to the session's (full) model
    when the complexity assessor says the fast answer may not stand.

    A row is escalated when its fast answer has top probability < ``min_top_prob``, margin <
    ``min_margin`` or normalised entropy > ``max_entropy``; when the request has more than
    ``max_input_elements`` elements per row; or when its distance to the nearest episode in
    episodic memory exceeds ``max_novelty`` (needs ``[modules.episodic]``). ``audit_rate`` of
    the rows the fast model keeps are also run on the full model to measure agreement.
    """

    name = "cascade"

    def __init__(self, session, config):
        super().__init__(session, config)
        self.opts = Options(self.name, session, config, {
            "fast_model": ((str,), None), "output": ((str,), None),
            "min_top_prob": ((float,), 0.9), "min_margin": ((float,), 0.0),
            "max_entropy": ((float,), 1.0), "max_input_elements": ((int,), 0),
            "max_novelty": ((float,), 0.0), "audit_rate": ((float,), 0.0),
            "per_row": ((bool,), True), "seed": ((int,), 0),
            "fast_providers": ((list,), None)})
        if self.opts.fast_model is None:
            raise ConfigValueError("modules.cascade: fast_model is required (the path of the "
                                   "small .onnx model that answers first)")
        for key in ("min_top_prob", "min_margin", "max_entropy", "audit_rate"):
            self.opts.fraction(key)
        self.opts.positive("max_input_elements", allow_zero=True)
        self.opts.positive("max_novelty", allow_zero=True)
        from ronn_core.onnx_io import load
        from ronn_core.session import Session
        providers = self.opts.fast_providers
        if providers is not None and not all(isinstance(p, str) for p in providers):
            raise ConfigValueError(f"modules.cascade.fast_providers = {providers!r} is not "
                                   f"allowed; expected a list of provider names")
        self.fast = Session(load(self.opts.existing_file("fast_model")),
                            threads=session.threads,
                            providers=providers or [(p.name, p.options)
                                                    for p in session.providers],
                            runtime=session.runtime)
        full_outputs = [o.name for o in session.outputs]
        fast_outputs = {o.name for o in self.fast.outputs}
        missing = [n for n in full_outputs if n not in fast_outputs]
        if missing:
            raise ConfigValueError(f"modules.cascade: the fast model lacks output(s) {missing} "
                                   f"of the full model; it has {sorted(fast_outputs)}")
        self.output = self.opts.output or full_outputs[0]
        if self.output not in full_outputs:
            raise ConfigValueError(f"modules.cascade.output = {self.output!r} is not an output "
                                   f"of the model; its outputs are {full_outputs}")
        self._names = full_outputs
        self._rng = np.random.default_rng(self.opts.seed)
        self._is_probability: bool | None = None
        self._lock = threading.Lock()
        self.counts = {"requests": 0, "rows": 0, "routed_full": 0, "audited": 0,
                       "compared": 0, "agreed": 0, "audit_agreed": 0, "fast_s": 0.0, "full_s": 0.0,
                       "reasons": {"confidence": 0, "size": 0, "novelty": 0}}
        saved = self.opts.state.load_json() if self.opts.state else None
        if saved:
            self.counts.update(saved["counts"])
        if self.opts.state is not None:
            save_at_exit(self.close)

    # -- the session hook ---------------------------------------------------------------------

    def run(self, feeds, call_next):
        n = batch_rows(self.session, feeds) if self.opts.per_row else None
        rows = 1 if n is None else n
        t0 = time.perf_counter()
        fast = self.fast.run(feeds, self._names)
        t1 = time.perf_counter()
        escalate, reasons = self.assess(feeds, fast, n)
        audit = np.zeros(rows, dtype=bool)
        if self.opts.audit_rate:
            with self._lock:
                audit = (~escalate) & (self._rng.random(rows) < self.opts.audit_rate)
        full_rows = np.flatnonzero(escalate | audit)
        full = None
        if full_rows.size:
            full = (call_next(feeds) if n is None or full_rows.size == rows
                    else run_rows(call_next, feeds, full_rows, n))
        t2 = time.perf_counter()
        agreed = compared = audit_agreed = 0
        if full is not None:
            fast_rows = fast if n is None or full_rows.size == rows else take(fast, full_rows)
            a = np.argmax(probabilities(fast_rows[self.output]), axis=1)
            b = np.argmax(probabilities(full[self.output]), axis=1)
            compared, agreed = int(a.size), int(np.count_nonzero(a == b))
            if n is not None:
                audit_agreed = int(np.count_nonzero((a == b) & audit[full_rows]))
        with self._lock:
            c = self.counts
            c["requests"] += 1
            c["rows"] += rows
            c["routed_full"] += int(np.count_nonzero(escalate))
            c["audited"] += int(np.count_nonzero(audit))
            c["compared"] += compared
            c["agreed"] += agreed
            c["audit_agreed"] += audit_agreed
            c["fast_s"] += t1 - t0
            c["full_s"] += t2 - t1
            for k, v in reasons.items():
                c["reasons"][k] += int(np.count_nonzero(v))
        if full is None:
            return fast
        if n is None:
            return full if escalate.any() else fast
        keep = np.flatnonzero(~escalate)
        answered = np.flatnonzero(escalate)
        if keep.size == 0:
            return full if full_rows.size == rows else merge_rows(n, [(full_rows, full)])
        full_idx = {r: j for j, r in enumerate(full_rows)}
        parts = [(keep, take(fast, keep))]
        if answered.size:
            parts.append((answered, take(full, np.array([full_idx[r] for r in answered]))))
        return merge_rows(n, parts)

    def assess(self, feeds: dict[str, Any], fast: dict[str, Any],
               n: int | None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The complexity assessor: which rows go to the full model, and why."""
        o = self.opts
        rows = 1 if n is None else n
        conf = confidence(self._probabilities(fast[self.output]), margin=o.min_margin > 0,
                          entropy=o.max_entropy < 1)
        unsure = conf["top"] < o.min_top_prob
        if o.min_margin > 0:
            unsure |= conf["margin"] < o.min_margin
        if o.max_entropy < 1:
            unsure |= conf["entropy"] > o.max_entropy
        if n is None:
            unsure = np.array([unsure.any()])
        reasons = {"confidence": unsure}
        escalate = unsure
        if o.max_input_elements:
            per_row = sum(np.asarray(v).size for v in feeds.values()) // rows
            size = np.full(rows, per_row > o.max_input_elements)
            reasons["size"] = size & ~escalate
            escalate = escalate | size
        if o.max_novelty:
            episodic = self._peer("episodic")
            if episodic is not None:
                novel = episodic.novelty(feeds, n) > o.max_novelty
                reasons["novelty"] = novel & ~escalate
                escalate = escalate | novel
        return escalate, reasons

    def _probabilities(self, value) -> np.ndarray:
        """The fast output as probabilities (whether it already is one is checked once)."""
        x = as_rows(value)
        if self._is_probability is None:
            self._is_probability = bool(is_probability(x))
        return x if self._is_probability else softmax(x)

    def stats(self) -> dict[str, Any]:
        """Fraction routed to the full model, latency, agreement with the full model (on every
        row both answered; ``audit_agreement`` on the audited rows the fast model kept)."""
        with self._lock:
            c = {**self.counts, "reasons": dict(self.counts["reasons"])}
        rows = c["rows"] or 1
        return {**c, "fraction_full": c["routed_full"] / rows,
                "fast_ms_per_request": 1e3 * c["fast_s"] / max(c["requests"], 1),
                "full_ms_per_request": 1e3 * c["full_s"] / max(c["requests"], 1),
                "agreement": c["agreed"] / c["compared"] if c["compared"] else None,
                "audit_agreement": c["audit_agreed"] / c["audited"] if c["audited"] else None}

    def close(self) -> None:
        if self.opts.state is not None:
            with self._lock:
                counts = {**self.counts, "reasons": dict(self.counts["reasons"])}
            self.opts.state.save_json({"counts": counts})

    def _peer(self, name: str):
        try:
            return self.session.module(name)
        except (ConfigValueError, AttributeError):
            return None
