"""RONN's engine and plugin contract: what plugin authors import.

    from ronn_core import hookimpl, kernel, ExecutionProvider, Pass, Graph, Node
"""

from ronn_core.bench_suite import BenchSuite
from ronn_core.context import KernelContext
from ronn_core.errors import RonnError
from ronn_core.graph import Graph, Node, Value
from ronn_core.hookspecs import hookimpl, hookspec
from ronn_core.kernel_spec import KernelSpec, kernel
from ronn_core.modules import SessionModule
from ronn_core.passes import Pass, PassContext
from ronn_core.provider import CompileContext, ExecutionProvider, Step
from ronn_core.runtime import Runtime, default_runtime
from ronn_core.schema import Attr, Input, OpSchema, Output
from ronn_core.types import MapType, OptionalType, SequenceType, TensorType

Tensor = TensorType  # the IR's tensor type (element type + symbolic shape)

__all__ = [
    "Attr", "BenchSuite", "Input", "OpSchema", "Output",
    "CompileContext", "ExecutionProvider", "Graph", "KernelContext", "KernelSpec", "MapType",
    "Node", "OptionalType", "Pass", "PassContext", "RonnError", "Runtime", "SequenceType",
    "SessionModule", "Step", "Tensor", "TensorType", "Value", "default_runtime", "hookimpl",
    "hookspec", "kernel",
]
