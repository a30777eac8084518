"""``ronn serve``: the KServe v2 REST endpoints over aiohttp, one batcher per model.

aiohttp is the HTTP stack: one maintained dependency that is server, router and (for the load
test) client at once, with graceful shutdown built into its runner.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from aiohttp import web

from ronn_core.errors import FeedError, OverloadedError, RonnError
from ronn_serve import __version__
from ronn_serve.batcher import DynamicBatcher
from ronn_serve.config import ModelConfig, ServeConfig
from ronn_serve.errors import InferRequestError
from ronn_serve.metrics import CONTENT_TYPE_LATEST, ServeMetrics
from ronn_serve.protocol import HEADER_LENGTH, datatype_of, encode_infer_response, \
    parse_infer_request


def _dims(shape: list | None) -> list[int]:
    return [-1] if shape is None else [d if isinstance(d, int) else -1 for d in shape]


class ServedModel:
    """A session, its worker pool and its batcher, plus the v2 metadata."""

    def __init__(self, config: ModelConfig, metrics: ServeMetrics):
        self.config, self.name, self.version = config, config.name, config.version
        self.session = config.create_session()
        self.executor = ThreadPoolExecutor(config.workers, thread_name_prefix=f"ronn-{self.name}")
        batching = config.batching
        queue_gauge = metrics.queue_depth.labels(self.name)
        self.batcher = DynamicBatcher(
            self.session.run_batch, executor=self.executor,
            max_batch_size=batching.max_batch_size if batching.enabled else 1,
            timeout_ms=batching.timeout_ms if batching.enabled else 0.0,
            max_queue_size=config.max_queue_size, max_inflight=config.workers, name=self.name,
            on_batch=metrics.batch_size.labels(self.name).observe, on_queue=queue_gauge.set)
        self.inputs = {i.name: i for i in self.session.inputs}
        self.output_names = [o.name for o in self.session.outputs]

    def metadata(self) -> dict[str, Any]:
        return {"name": self.name, "versions": [self.version], "platform": "ronn_onnx",
                "inputs": [self._tensor(i) for i in self.session.inputs],
                "outputs": [self._tensor(o) for o in self.session.outputs],
                "parameters": {"batching": self.config.batching.enabled,
                               "max_batch_size": self.batcher.max_batch_size,
                               "batchable": self.session.batch_blocker is None}}

    @staticmethod
    def _tensor(info) -> dict[str, Any]:
        return {"name": info.name, "datatype": datatype_of(info.dtype), "shape": _dims(info.shape)}

    def check(self, inputs: dict[str, np.ndarray], outputs: list[tuple[str, bool]]) -> None:
        """400s naming the input and what was expected vs got."""
        for name in inputs:
            if name not in self.inputs:
                raise InferRequestError(f"unknown input {name!r}; model {self.name!r} has inputs "
                                        f"{list(self.inputs)}")
        for name, info in self.inputs.items():
            want_type, want_shape = datatype_of(info.dtype), _dims(info.shape)
            if name not in inputs:
                raise InferRequestError(f"missing input {name!r} ({want_type} {want_shape})")
            got = inputs[name]
            if info.dtype is not None and datatype_of(got.dtype) != want_type:
                raise InferRequestError(f"input {name!r}: expected datatype {want_type}, got "
                                        f"{datatype_of(got.dtype)}")
            if info.shape is not None and (len(want_shape) != got.ndim or any(
                    w not in (-1, g) for w, g in zip(want_shape, got.shape))):
                raise InferRequestError(f"input {name!r}: expected shape {want_shape}, got "
                                        f"{list(got.shape)}")
        for index, (name, _) in enumerate(outputs):
            if name not in self.output_names:
                raise InferRequestError(f"field 'outputs[{index}].name': unknown output {name!r}; "
                                        f"model {self.name!r} has outputs {self.output_names}")

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        self.session.close()


class Server:
    """The app's state: models, metrics, readiness."""

    def __init__(self, config: ServeConfig):
        self.config = config
        self.metrics = ServeMetrics()
        self.models = {name: ServedModel(mc, self.metrics) for name, mc in config.models.items()}
        self.shutting_down = False
        self.inflight = 0
        self.app = self._make_app()

    def _make_app(self) -> web.Application:
        app = web.Application(client_max_size=256 * 1024 * 1024, middlewares=[_json_errors])
        get, post = web.get, web.post
        app.add_routes([
            get("/v2", self.server_metadata),
            get("/v2/health/live", self.live), get("/v2/health/ready", self.ready),
            get("/v2/models/{name}", self.model_metadata),
            get("/v2/models/{name}/versions/{version}", self.model_metadata),
            get("/v2/models/{name}/ready", self.model_ready),
            get("/v2/models/{name}/versions/{version}/ready", self.model_ready),
            post("/v2/models/{name}/infer", self.infer),
            post("/v2/models/{name}/versions/{version}/infer", self.infer),
            get("/metrics", self.metrics_page),
        ])
        return app

    # -- endpoints ----------------------------------------------------------------------------

    async def server_metadata(self, request: web.Request) -> web.Response:
        return web.json_response({"name": "ronn", "version": __version__,
                                  "extensions": ["binary_tensor_data"]})

    async def live(self, request: web.Request) -> web.Response:
        return web.json_response({"live": True})

    async def ready(self, request: web.Request) -> web.Response:
        ok = not self.shutting_down
        return web.json_response({"ready": ok}, status=200 if ok else 503)

    async def model_metadata(self, request: web.Request) -> web.Response:
        return web.json_response(self._model(request).metadata())

    async def model_ready(self, request: web.Request) -> web.Response:
        self._model(request)
        ok = not self.shutting_down
        return web.json_response({"name": request.match_info["name"], "ready": ok},
                                 status=200 if ok else 503)

    async def metrics_page(self, request: web.Request) -> web.Response:
        return web.Response(body=self.metrics.render(),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def infer(self, request: web.Request) -> web.Response:
        start = time.perf_counter()
        name = request.match_info["name"]
        label = name if name in self.models else ""       # no label per unknown name
        m = self.metrics
        m.inflight.inc()
        self.inflight += 1
        status = 500
        try:
            model = self._model(request)
            parsed = parse_infer_request(await request.read(), request.headers.get(HEADER_LENGTH))
            model.check(parsed.inputs, parsed.outputs)
            outputs = await model.batcher.submit(parsed.inputs)
            body, headers = encode_infer_response(model.name, model.version, parsed, outputs)
            status = 200
            return web.Response(body=body, headers=headers)
        except web.HTTPNotFound as exc:
            status = 404
            m.errors.labels(label, "not_found").inc()
            return _error(404, exc.text)
        except OverloadedError as exc:
            status = 503
            m.errors.labels(label, "overloaded").inc()
            return _error(503, str(exc), {"Retry-After": "1"})
        except FeedError as exc:
            status = 400
            m.errors.labels(label, "bad_request").inc()
            return _error(400, str(exc))
        except RonnError as exc:
            m.errors.labels(label, "model").inc()
            return _error(500, f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # the server stays up; the client hears what happened
            m.errors.labels(label, "internal").inc()
            return _error(500, f"internal error: {type(exc).__name__}: {exc}")
        finally:
            m.inflight.dec()
            self.inflight -= 1
            m.requests.labels(label, str(status)).inc()
            if status == 200:
                m.latency.labels(label).observe(time.perf_counter() - start)

    def _model(self, request: web.Request) -> ServedModel:
        name = request.match_info["name"]
        model = self.models.get(name)
        if model is None:
            raise web.HTTPNotFound(text=f"unknown model {name!r}; served models: "
                                        f"{sorted(self.models)}")
        version = request.match_info.get("version")
        if version is not None and version != model.version:
            raise web.HTTPNotFound(text=f"model {name!r} has no version {version!r}; served "
                                        f"version: {model.version!r}")
        return model

    # -- lifecycle ----------------------------------------------------------------------------

    async def shutdown(self, runner: web.AppRunner) -> None:
        """Stop listening, finish every request in flight or queued, then free the models."""
        self.shutting_down = True
        for model in self.models.values():
            model.batcher.stop_intake()            # run what is queued without waiting
        await runner.cleanup()                     # waits for handlers in flight
        for model in self.models.values():
            await model.batcher.drain()
            model.close()


@web.middleware
async def _json_errors(request: web.Request, handler):
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status >= 400:
            return _error(exc.status, exc.text or exc.reason)
        raise


def _error(status: int, message: str, headers: dict | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


def limit_blas_threads(config: ServeConfig) -> None:
    """Cap native pools (BLAS, OpenMP) process-wide at the largest per-model ``threads``.

    Sessions also limit threads around each run, but that limit is process-global: with runs
    on several workers at once, one run's exit would restore the library default under the
    others, oversubscribing the cores. A process-wide cap set once keeps every run inside it.
    """
    from threadpoolctl import threadpool_limits
    threadpool_limits(limits=max(m.threads for m in config.models.values()))


async def serve(config: ServeConfig, host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT, then shut down gracefully."""
    server = Server(config)
    limit_blas_threads(config)              # after the sessions: their native pools are loaded
    runner = web.AppRunner(server.app, access_log=None,
                           shutdown_timeout=config.shutdown_timeout_s)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"ronn serve: listening on http://{host}:{bound} (models: "
          f"{', '.join(server.models)})", flush=True)
    await stop.wait()
    print(f"ronn serve: shutting down, finishing {server.inflight} request(s) in flight",
          flush=True)
    await server.shutdown(runner)
    print("ronn serve: stopped", flush=True)


def run_server(config: ServeConfig, host: str | None = None, port: int | None = None) -> int:
    host, port = host or config.host, config.port if port is None else port
    try:
        asyncio.run(serve(config, host, port))
    except OSError as exc:
        print(f"ronn serve: error: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 1
    return 0
