"""RONN's engine and plugin contract: what plugin authors import."""

from ronn_core.kernel_spec import KernelSpec, kernel
import pluggy

hookimpl = pluggy.HookimplMarker("ronn")
