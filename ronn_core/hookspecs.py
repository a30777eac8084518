"""The plugin contract: every hook a RONN plugin may implement.

Contribution hooks receive a ``register`` callable; the runtime validates what is registered and
records which plugin gave it. Lifecycle hooks observe sessions and runs. Implement a hook with
``@ronn_core.hookimpl`` on a function of your plugin module, and point an entry point in group
``ronn`` at that module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import pluggy

if TYPE_CHECKING:
    from ronn_core.session import Session

hookspec = pluggy.HookspecMarker("ronn")
hookimpl = pluggy.HookimplMarker("ronn")


# -- contributions ----------------------------------------------------------------------------


@hookspec
def ronn_operators(register: Callable[[Any], None]) -> None:
    """Register operator kernels.

    :param register: call ``register(obj)`` with a ``@kernel`` function, a module whose
        ``@kernel`` functions should all be registered, or a :class:`ronn_core.KernelSpec`.
        Kernels are keyed ``(domain, op_type, since, provider)``; when two plugins register the
        same key, the higher ``priority`` wins (ties: the plugin name first in alphabetical
        order), with a warning.
    :return: nothing; what is registered is the contribution.
    """


@hookspec
def ronn_providers(register: Callable[[type], None]) -> None:
    """Register execution provider classes.

    :param register: call ``register(cls)`` with a subclass of
        :class:`ronn_core.ExecutionProvider`; its ``name`` is what sessions ask for.
    :return: nothing.
    """


@hookspec
def ronn_passes(register: Callable[[Any], None]) -> None:
    """Register graph optimization passes.

    :param register: call ``register(p)`` with an instance of :class:`ronn_core.Pass`; its
        ``name``, ``level`` (``"O1"``..``"O3"``) and ``after``/``before`` constraints decide
        when it runs.
    :return: nothing.
    """


@hookspec
def ronn_modules(register: Callable[[type], None]) -> None:
    """Register session modules (wrappers around ``Session.run``, such as the brain modules).

    :param register: call ``register(cls)`` with a subclass of
        :class:`ronn_core.SessionModule`; sessions enable it by its ``name``.
    :return: nothing.
    """


@hookspec
def ronn_commands(subparsers: Any) -> None:
    """Add subcommands to the ``ronn`` command line.

    :param subparsers: the ``argparse`` sub-parsers object of the ``ronn`` command; add a parser
        with ``subparsers.add_parser(name)`` and set ``func=callable(args) -> int`` on it with
        ``parser.set_defaults``.
    :return: nothing.
    """


@hookspec
def ronn_bench_suites(register: Callable[[Any], None]) -> None:
    """Register benchmark suites that ``ronn bench --suite NAME`` runs.

    :param register: call ``register(suite)`` with a :class:`ronn_core.BenchSuite`: a ``name``,
        a one-line ``description`` and ``run(threads, runs, quick) -> list[dict]`` returning one
        row per measurement (same keys in every row; ratios against a baseline measured in the
        same run).
    :return: nothing.
    """


# -- lifecycle observers ----------------------------------------------------------------------


@hookspec
def ronn_session_created(session: "Session") -> None:
    """Called once a session is built (after partitioning and planning).

    :param session: the new session; read ``session.placement`` for where each node runs.
    :return: nothing.
    """


@hookspec
def ronn_run_started(session: "Session", feeds: dict[str, Any]) -> None:
    """Called before each run, after the feeds were validated.

    :param session: the session about to run.
    :param feeds: the validated inputs by name (do not modify them).
    :return: nothing.
    """


@hookspec
def ronn_run_finished(session: "Session", outputs: dict[str, Any], seconds: float) -> None:
    """Called after each successful run.

    :param session: the session that ran.
    :param outputs: the outputs by name.
    :param seconds: wall time of the run.
    :return: nothing.
    """
