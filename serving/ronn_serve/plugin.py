"""Hooks of ronn-serve: the ``ronn serve`` command and the ``serving`` bench suite."""

from __future__ import annotations

from ronn_core import BenchSuite, hookimpl


@hookimpl
def ronn_commands(subparsers):
    p = subparsers.add_parser("serve", help="serve models over HTTP (KServe v2 protocol)",
                              description="Serve the models of a serve config (TOML) over the "
                                          "KServe Open Inference Protocol v2 (REST), with "
                                          "dynamic batching and Prometheus /metrics.")
    p.add_argument("config", help="serve config (TOML), see ronn-serve's README")
    p.add_argument("--host", default=None, help="address to bind (default: config, else "
                                                 "127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default: config, else 8000; "
                                                           "0 picks a free one)")
    p.set_defaults(func=_serve)


def _serve(args) -> int:
    from ronn_serve.config import load_serve_config
    from ronn_serve.server import run_server
    return run_server(load_serve_config(args.config), args.host, args.port)


@hookimpl
def ronn_bench_suites(register):
    from ronn_serve.loadtest import run_suite
    register(BenchSuite("serving", "ronn serve throughput and p50/p99 latency, dynamic batching "
                                   "on vs off, 1/8/32 concurrent clients (loopback)", run_suite))
