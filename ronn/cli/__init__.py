"""The ``ronn`` command line: run, info, plugins, ops, check, bench, new-plugin (plugins may add
more through the ``ronn_commands`` hook)."""

from __future__ import annotations

import argparse
import sys

from ronn_core.errors import RonnError


def build_parser() -> argparse.ArgumentParser:
    from ronn.cli import bench, check, info, new_plugin, ops, plugins, run
    parser = argparse.ArgumentParser(prog="ronn", description="Run ONNX models with RONN.")
    parser.add_argument("--version", action="version", version=f"ronn {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (run, info, plugins, ops, check, bench, new_plugin):
        module.register(sub)
    try:
        from ronn_core.runtime import default_runtime
        default_runtime().load().pm.hook.ronn_commands(subparsers=sub)
    except Exception as exc:  # a plugin's command must never break the CLI
        print(f"ronn: warning: a plugin failed to add commands: {exc}", file=sys.stderr)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except RonnError as exc:
        print(f"ronn: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _version() -> str:
    from ronn import __version__
    return __version__


if __name__ == "__main__":
    sys.exit(main())
