"""``ronn bench --suite gpu``: the zoo on the GPU, checked against onnxruntime's CPU outputs,
and ResNet-50 at batch 32 against torch eager float32 on the same GPU (target: >= 1/1.5 of
torch's throughput). Needs a GPU, CuPy, Triton and a CUDA build of torch for the baseline;
without a GPU it raises ``ProviderError`` saying why.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from ronn_core.errors import ProviderError

TARGET_RATIO = 1 / 1.5     # ronn throughput / torch throughput must reach this


def require_gpu() -> None:
    from ronn_gpu.probe import unavailable_reason
    reason = unavailable_reason(0)
    if reason:
        raise ProviderError(f"bench suite 'gpu' needs a CUDA GPU: {reason}")


def batched_resnet50(batch: int) -> onnx.ModelProto:
    """The zoo's ResNet-50 (random weights) with a batch dimension of ``batch``."""
    from ronn import zoo
    model = zoo.light_model("resnet50", seed=0)
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = batch
    for init in model.graph.initializer:
        if init.name == "OC2_DUMMY_1":        # the Reshape before the classifier: [1, 2048]
            init.CopyFrom(numpy_helper.from_array(np.array([batch, 2048], np.int64), init.name))
    del model.graph.value_info[:]
    for out in model.graph.output:
        out.type.tensor_type.shape.dim[0].dim_value = batch
    model.ir_version = 8
    return model


def _best(fn, runs: int) -> float:
    fn()
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def zoo_rows(quick: bool) -> list[dict[str, Any]]:
    import onnxruntime as ort

    import ronn
    from ronn import zoo, zoo_builders
    names = ["squeezenet", "resnet50"] if quick else list(zoo.LIGHT_NETWORKS)
    rows = []
    for name in names + ["bert_encoder"]:
        model = zoo_builders.bert_encoder() if name == "bert_encoder" else zoo.light_model(name)
        model.ir_version = min(model.ir_version, 8)
        data = model.SerializeToString()
        session = ronn.Model.load(data).create_session(providers=["gpu", "cpu"])
        info = session.inputs[0]
        shape = [d if isinstance(d, int) else (2 if i == 0 else 16)
                 for i, d in enumerate(info.shape)]
        x = np.random.default_rng(0).standard_normal(shape).astype(info.dtype)
        got = session.run({info.name: x})
        ref = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(
            None, {info.name: x})
        err = max(float(np.abs(np.asarray(g, np.float64) - r).max()) / max(1.0, float(np.abs(r).max()))
                  for g, r in zip(got.values(), ref))
        on_gpu = sum(p.provider == "gpu" for p in session.placement)
        rows.append({"case": f"zoo/{name}", "nodes_on_gpu": f"{on_gpu}/{len(session.placement)}",
                     "max_rel_error_vs_ort_cpu": err, "ok": err < 1e-3,
                     "ronn_ms": None, "torch_ms": None, "ratio": None})
    return rows


def resnet50_row(runs: int, quick: bool) -> dict[str, Any]:
    import torch

    import ronn
    from ronn_gpu.torch_resnet import resnet50
    if not torch.cuda.is_available():
        raise ProviderError("bench suite 'gpu' compares against torch on the same GPU, but this "
                            "torch build has no CUDA (torch.cuda.is_available() is False)")
    batch = 8 if quick else 32
    session = ronn.Model.load(batched_resnet50(batch).SerializeToString()).create_session(
        providers=["gpu"])
    import cupy
    x = cupy.asarray(np.random.default_rng(0).standard_normal((batch, 3, 224, 224), np.float32))
    name = session.inputs[0].name

    def ronn_step():
        session.run({name: x}, output_device="cuda")
        cupy.cuda.get_current_stream().synchronize()
        session.providers[0].backend.synchronize()

    net = resnet50().cuda().eval()
    xt = torch.from_dlpack(x)
    with torch.no_grad():
        def torch_step():
            net(xt)
            torch.cuda.synchronize()
        t_torch = _best(torch_step, runs)
    t_ronn = _best(ronn_step, runs)
    ratio = t_torch / t_ronn
    return {"case": f"resnet50/batch{batch}", "nodes_on_gpu": f"{len(session.placement)}",
            "max_rel_error_vs_ort_cpu": None, "ok": ratio >= TARGET_RATIO,
            "ronn_ms": t_ronn * 1e3, "torch_ms": t_torch * 1e3, "ratio": ratio}


def run_suite(threads: int | None = None, runs: int = 10, quick: bool = False,
              **_: Any) -> list[dict[str, Any]]:
    require_gpu()
    rows = zoo_rows(quick)
    rows.append(resnet50_row(max(3, runs), quick))
    return rows
