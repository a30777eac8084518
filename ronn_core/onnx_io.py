"""ONNX files to the IR and back: parsing, the external-data guard, inlining, shape inference."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import AttributeProto, TensorProto, helper, numpy_helper

from ronn_core import onnx_wire
from ronn_core.errors import ExternalDataError, ModelError, ModelLoadError
from ronn_core.graph import Graph, Node, Value
from ronn_core.kernel_spec import normalize_domain
from ronn_core.types import from_type_proto, to_type_proto


@dataclass
class LoadedModel:
    """A parsed model: its main graph plus the metadata an exporter would want back."""

    graph: Graph
    ir_version: int
    producer: str = ""
    path: Path | None = None
    metadata: dict[str, str] = field(default_factory=dict)


def load(source: str | os.PathLike | bytes, *, base_dir: str | os.PathLike | None = None,
         infer_shapes: bool = True) -> LoadedModel:
    """Load an ONNX model from a path or bytes into the IR.

    External data is read only from files inside the model's folder (``base_dir`` for bytes).
    Model-local functions are inlined, and onnx shape inference fills in value types.
    """
    path = None
    if isinstance(source, (bytes, bytearray, memoryview)):
        label = "<bytes>"
        proto, arrays = parse_split(source, label)
    else:
        path = Path(source)
        label = str(path)
        if not path.is_file():
            raise ModelLoadError(f"cannot load model {label!r}: no such file")
        proto, arrays = _parse_file(path, label)
        base_dir = base_dir if base_dir is not None else path.parent
    load_external_data(proto, base_dir, label)
    proto = prepare_model(proto, label, infer_shapes=infer_shapes)
    graph = graph_from_proto(proto.graph, opsets=model_opsets(proto), initializers=arrays)
    meta = {p.key: p.value for p in proto.metadata_props}
    return LoadedModel(graph, proto.ir_version, proto.producer_name, path, meta)


def parse_split(data, label: str, read=None) -> tuple[onnx.ModelProto, dict[int, np.ndarray]]:
    """Parse a model's bytes with its large initializers read straight into arrays (by
    initializer index; see ``onnx_wire``), so no weight is held twice; where the bytes are
    laid out otherwise, parse them whole (no arrays)."""
    if sys.byteorder == "little":
        try:
            stripped, payloads = onnx_wire.split_model(data)
        except onnx_wire.WireFormatError:
            pass
        else:
            proto = parse_model(stripped, label)
            return proto, onnx_wire.read_arrays(payloads, read or onnx_wire.buffer_reader(data))
    return parse_model(bytes(data), label), {}


def _parse_file(path: Path, label: str) -> tuple[onnx.ModelProto, dict[int, np.ndarray]]:
    """``parse_split`` of a file: scanned through a read-only map, weights read by ``preadv``."""
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size:
            with onnx_wire.map_file(f.fileno()) as mapped:
                try:
                    return parse_split(mapped, label, onnx_wire.file_reader(f.fileno()))
                except onnx_wire.WireFormatError:   # the file changed under us: read it whole
                    pass
    return parse_model(path.read_bytes(), label), {}


def parse_model(data: bytes, label: str = "<bytes>") -> onnx.ModelProto:
    """Parse bytes as a ModelProto; any failure is a one-line ModelLoadError."""
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)
    except Exception as exc:  # protobuf raises DecodeError or RuntimeWarning-like errors
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelLoadError(f"cannot load model {label!r}: not a valid ONNX protobuf "
                             f"({first}); is the file truncated or not an .onnx file?") from None
    if not data or not proto.HasField("graph") or proto.ir_version <= 0:
        raise ModelLoadError(f"cannot load model {label!r}: the data parsed but holds no ONNX "
                             f"graph (ir_version={proto.ir_version}); is it truncated or not "
                             f"an .onnx file?")
    if not proto.graph.output:
        raise ModelLoadError(f"cannot load model {label!r}: its graph has no outputs")
    return proto


def prepare_model(proto: onnx.ModelProto, label: str, *, infer_shapes: bool) -> onnx.ModelProto:
    """Inline model-local functions, then run onnx shape inference where the model allows."""
    if proto.functions:
        from onnx import inliner
        try:
            proto = inliner.inline_local_functions(proto)
        except Exception as exc:
            raise ModelError(f"model {label!r}: cannot inline its local functions: {exc}") from None
    if infer_shapes:
        _infer_types(proto)
    return proto


def _infer_types(proto: onnx.ModelProto) -> None:
    """Fill value types by onnx shape inference, run on a copy without the large weights."""
    g = proto.graph
    skeleton = onnx.GraphProto(name=g.name, node=g.node, input=g.input, output=g.output,
                               value_info=g.value_info)
    declared = {i.name for i in g.input}
    for t in g.initializer:
        if _numel(t) <= 64 or t.data_type == TensorProto.INT64:
            skeleton.initializer.append(t)
        elif t.name not in declared:
            skeleton.input.append(helper.make_tensor_value_info(t.name, t.data_type, t.dims))
    model = onnx.ModelProto(ir_version=max(proto.ir_version, 4), graph=skeleton,
                            opset_import=proto.opset_import)
    try:
        inferred = onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False,
                                                     data_prop=True)
    except Exception:
        return  # shape inference is an aid; kernels work on the real shapes at run time
    del g.value_info[:]
    g.value_info.extend(inferred.graph.value_info)
    for out, inf in zip(g.output, inferred.graph.output):
        if not out.type.HasField("tensor_type") or not out.type.tensor_type.HasField("shape"):
            out.type.CopyFrom(inf.type)


def _numel(t: TensorProto) -> int:
    n = 1
    for d in t.dims:
        n *= d
    return n


def model_opsets(proto: onnx.ModelProto) -> dict[str, int]:
    opsets = {normalize_domain(o.domain): o.version for o in proto.opset_import}
    if not proto.opset_import and proto.ir_version < 3:
        opsets[""] = 1  # IR 1-2 models predate opset_import; they are opset 1
    return opsets


# -- external data ----------------------------------------------------------------------------


def _external_tensors(graph: onnx.GraphProto):
    for t in graph.initializer:
        yield t
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == AttributeProto.TENSOR:
                yield attr.t
            elif attr.type == AttributeProto.TENSORS:
                yield from attr.tensors
            elif attr.type == AttributeProto.GRAPH:
                yield from _external_tensors(attr.g)
            elif attr.type == AttributeProto.GRAPHS:
                for g in attr.graphs:
                    yield from _external_tensors(g)


def load_external_data(proto: onnx.ModelProto, base_dir, label: str) -> None:
    """Read every external tensor's bytes, refusing any file outside ``base_dir``."""
    for tensor in _external_tensors(proto.graph):
        if tensor.data_location != TensorProto.EXTERNAL:
            continue
        info = {e.key: e.value for e in tensor.external_data}
        location = info.get("location", "")
        if base_dir is None:
            raise ExternalDataError(f"model {label!r}: tensor {tensor.name!r} keeps its data in "
                                    f"{location!r}, but the model was given as bytes; pass "
                                    f"base_dir= (the folder holding that file)")
        root = Path(base_dir).resolve()
        target = (root / location).resolve()
        if not location or Path(location).is_absolute() or not target.is_relative_to(root):
            raise ExternalDataError(
                f"model {label!r}: tensor {tensor.name!r} points at external data {location!r}, "
                f"outside the model's folder {str(root)!r}; refused (external data is read only "
                f"from inside that folder)")
        if not target.is_file():
            raise ExternalDataError(f"model {label!r}: tensor {tensor.name!r} needs external data "
                                    f"file {str(target)!r}, which does not exist")
        offset = int(info.get("offset", 0) or 0)
        length = info.get("length")
        with open(target, "rb") as f:
            f.seek(offset)
            raw = f.read(int(length)) if length else f.read()
        if length and len(raw) != int(length):
            raise ExternalDataError(f"model {label!r}: tensor {tensor.name!r} wants {length} bytes "
                                    f"at offset {offset} of {location!r}, the file has {len(raw)}")
        tensor.raw_data = raw
        tensor.data_location = TensorProto.DEFAULT
        del tensor.external_data[:]


# -- proto to IR ------------------------------------------------------------------------------


def tensor_to_array(t: TensorProto) -> np.ndarray:
    """A TensorProto as a numpy array (strings as ``str`` objects)."""
    try:
        array = numpy_helper.to_array(t)
    except (ValueError, TypeError) as exc:      # e.g. raw_data of the wrong size
        raise ModelLoadError(f"tensor {t.name!r} ({TensorProto.DataType.Name(t.data_type)}, "
                             f"dims {list(t.dims)}) cannot be read: {exc}") from None
    if t.data_type == TensorProto.STRING:
        array = np.vectorize(lambda s: s.decode("utf-8") if isinstance(s, bytes) else s,
                             otypes=[object])(array) if array.size else array.astype(object)
    return array


def _sparse_to_dense(sp) -> np.ndarray:
    values = tensor_to_array(sp.values)
    dense = np.zeros(tuple(sp.dims), dtype=values.dtype)
    indices = tensor_to_array(sp.indices)
    if indices.ndim == 1:
        dense.reshape(-1)[indices] = values
    else:
        dense[tuple(indices.T)] = values
    return dense


def decode_attribute(attr: AttributeProto, parent: Graph) -> Any:
    """An attribute's value in the form kernels receive."""
    kind = attr.type
    if kind == AttributeProto.INT:
        return int(attr.i)
    if kind == AttributeProto.FLOAT:
        return float(attr.f)
    if kind == AttributeProto.STRING:
        return attr.s.decode("utf-8", errors="replace")
    if kind == AttributeProto.TENSOR:
        return tensor_to_array(attr.t)
    if kind == AttributeProto.GRAPH:
        return graph_from_proto(attr.g, opsets=parent.opsets, parent=parent)
    if kind == AttributeProto.SPARSE_TENSOR:
        return _sparse_to_dense(attr.sparse_tensor)
    if kind == AttributeProto.TYPE_PROTO:
        return from_type_proto(attr.tp)
    if kind == AttributeProto.INTS:
        return [int(i) for i in attr.ints]
    if kind == AttributeProto.FLOATS:
        return [float(f) for f in attr.floats]
    if kind == AttributeProto.STRINGS:
        return [s.decode("utf-8", errors="replace") for s in attr.strings]
    if kind == AttributeProto.TENSORS:
        return [tensor_to_array(t) for t in attr.tensors]
    if kind == AttributeProto.GRAPHS:
        return [graph_from_proto(g, opsets=parent.opsets, parent=parent) for g in attr.graphs]
    if kind == AttributeProto.SPARSE_TENSORS:
        return [_sparse_to_dense(s) for s in attr.sparse_tensors]
    if kind == AttributeProto.TYPE_PROTOS:
        return [from_type_proto(tp) for tp in attr.type_protos]
    raise ModelError(f"attribute {attr.name!r} has unknown type {kind}")


def graph_from_proto(gp: onnx.GraphProto, *, opsets: dict[str, int],
                     parent: Graph | None = None,
                     initializers: dict[int, np.ndarray] | None = None) -> Graph:
    """Convert a GraphProto (and its subgraphs) to a ``Graph``. ``initializers``: arrays
    already read for some initializers (by index), whose protos hold no data."""
    graph = Graph(gp.name or "graph", opsets=opsets, parent=parent)
    graph.doc_string = gp.doc_string
    for vi in (*gp.input, *gp.value_info, *gp.output):
        graph.value(vi.name).type = from_type_proto(vi.type) or graph.value(vi.name).type
    read = initializers or {}
    for i, t in enumerate(gp.initializer):
        graph.add_constant(t.name, read[i] if i in read else tensor_to_array(t))
    for sp in gp.sparse_initializer:
        graph.add_constant(sp.values.name, _sparse_to_dense(sp))
    graph.inputs = [vi.name for vi in gp.input]
    graph.outputs = [vi.name for vi in gp.output]
    for i, np_ in enumerate(gp.node):
        domain = normalize_domain(np_.domain)
        if domain not in opsets:
            raise ModelError(f"node {np_.name or np_.op_type!r} uses domain {domain or 'ai.onnx'!r}"
                             f", which the model's opset_import does not declare")
        node = Node(np_.op_type, list(np_.input), list(np_.output), domain=domain,
                    name=np_.name or f"{np_.op_type}_{i}", version=opsets[domain],
                    doc_string=np_.doc_string)
        for attr in np_.attribute:
            if attr.ref_attr_name:
                raise ModelError(f"node {node.describe()}: attribute {attr.name!r} refers to a "
                                 f"function attribute outside any function")
            node.attributes[attr.name] = decode_attribute(attr, graph)
            node.attribute_types[attr.name] = attr.type
        for sub in node.subgraphs.values():
            for g in (sub if isinstance(sub, list) else [sub]):
                for name in g.free_names():
                    if name not in node.implicit_inputs:
                        node.implicit_inputs.append(name)
        graph.add_node(node)
    return graph


# -- IR to proto ------------------------------------------------------------------------------


def _encode_attribute(name: str, value: Any, attr_type: int | None) -> AttributeProto:
    if isinstance(value, Graph):
        return helper.make_attribute(name, graph_to_proto(value))
    if isinstance(value, list) and value and isinstance(value[0], Graph):
        return helper.make_attribute(name, [graph_to_proto(g) for g in value])
    if isinstance(value, np.ndarray):
        return helper.make_attribute(name, numpy_helper.from_array(value))
    if isinstance(value, list) and value and isinstance(value[0], np.ndarray):
        return helper.make_attribute(name, [numpy_helper.from_array(v) for v in value])
    if attr_type == AttributeProto.TYPE_PROTO:
        return helper.make_attribute(name, to_type_proto(value), attr_type=attr_type)
    return helper.make_attribute(name, value, attr_type=attr_type or None)


def graph_to_proto(graph: Graph) -> onnx.GraphProto:
    """A ``Graph`` as an ``onnx.GraphProto``."""
    nodes = []
    for node in graph.nodes:
        np_ = helper.make_node(node.op_type, node.inputs, node.outputs, name=node.name,
                               domain=node.domain, doc_string=node.doc_string or None)
        np_.attribute.extend(_encode_attribute(k, v, node.attribute_types.get(k))
                             for k, v in node.attributes.items())
        nodes.append(np_)

    def info(name: str) -> onnx.ValueInfoProto:
        v = graph.values.get(name) or Value(name)
        return helper.make_value_info(name, to_type_proto(v.type))

    io = set(graph.inputs) | set(graph.outputs)
    inits = [numpy_helper.from_array(v.constant, v.name) for v in graph.values.values()
             if v.constant is not None]
    value_info = [info(n) for n, v in graph.values.items()
                  if n not in io and v.constant is None and v.type is not None]
    return helper.make_graph(nodes, graph.name, [info(n) for n in graph.inputs],
                             [info(n) for n in graph.outputs], initializer=inits,
                             value_info=value_info, doc_string=graph.doc_string or None)


def graph_to_model(graph: Graph, *, ir_version: int | None = None,
                   producer: str = "ronn") -> onnx.ModelProto:
    """A ``Graph`` as a complete ``onnx.ModelProto``."""
    opsets = [helper.make_opsetid(d, v) for d, v in graph.opsets.items()]
    model = helper.make_model(graph_to_proto(graph), opset_imports=opsets, producer_name=producer)
    if ir_version is not None:
        model.ir_version = ir_version
    return model
