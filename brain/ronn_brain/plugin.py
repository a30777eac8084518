"""The hooks: entry point ``brain = "ronn_brain.plugin"`` in group ``ronn``."""

from __future__ import annotations

from ronn_core import BenchSuite, hookimpl


@hookimpl
def ronn_modules(register):
    from ronn_brain import MODULES
    register(*MODULES)


@hookimpl
def ronn_bench_suites(register):
    def run(threads=None, runs=5, quick=False):
        from ronn_brain.bench.suite import run_suite
        return run_suite(threads=threads, runs=runs, quick=quick)

    register(BenchSuite("brain", "brain modules on sklearn digits: cascade speed-up, semantic "
                                 "cache hits/error, continual-learning forgetting", run))
