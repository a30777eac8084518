"""RONN's exception hierarchy: every error a user can hit, each naming what was expected and found."""

from __future__ import annotations


class RonnError(Exception):
    """Base class of every error RONN raises on purpose."""


# -- loading models ---------------------------------------------------------------------------


class ModelLoadError(RonnError, ValueError):
    """The file or bytes are not a readable ONNX model."""


class ExternalDataError(ModelLoadError):
    """A tensor's external data is missing or points outside the model's folder."""


class ModelError(RonnError, ValueError):
    """The model parsed but is not valid: a dangling value, a bad attribute, an unknown opset."""


# -- kernels and providers --------------------------------------------------------------------


class NoKernelError(RonnError, NotImplementedError):
    """No installed plugin has a kernel for a node."""

    def __init__(self, *, node: str, op_type: str, domain: str, version: int,
                 plugins: list[str], providers: list[str], hint: str):
        self.node, self.op_type, self.domain, self.version = node, op_type, domain, version
        self.plugins, self.providers = plugins, providers
        dom = domain or "ai.onnx"
        super().__init__(
            f"no kernel for node {node!r}: op {op_type!r} in domain {dom!r} at opset {version} "
            f"on providers {providers}; installed plugins: {', '.join(plugins) or 'none'}. {hint}"
        )


class KernelError(RonnError, RuntimeError):
    """A kernel failed while running a node; names the node, op and input shapes."""


class SandboxError(KernelError):
    """A sandboxed (WebAssembly) kernel broke a rule of its sandbox."""


class SandboxMemoryError(SandboxError, MemoryError):
    """A sandboxed kernel asked for more linear memory than its cap."""


class SandboxTimeoutError(SandboxError, TimeoutError):
    """A sandboxed kernel ran past its time budget (fuel or epoch deadline)."""


class SandboxTrapError(SandboxError):
    """A sandboxed kernel trapped (out-of-bounds access, unreachable, division by zero)."""


class OverloadedError(RonnError, RuntimeError):
    """A bounded request queue is full; the request was refused, not dropped."""


class ProviderError(RonnError, ValueError):
    """An execution provider is unknown, unavailable or misconfigured."""


class PluginError(RonnError):
    """A plugin registered something invalid (wrong type, missing field)."""


# -- running sessions -------------------------------------------------------------------------


class FeedError(RonnError, ValueError):
    """The inputs given to run() do not match the model's inputs."""


class UnknownInputError(FeedError):
    """A feed names an input the model does not have."""


class MissingInputError(FeedError):
    """A required model input was not fed."""


class InputTypeError(FeedError, TypeError):
    """A feed has the wrong element type or container kind."""


class InputShapeError(FeedError):
    """A feed has the wrong rank or a wrong static (or inconsistent symbolic) dimension."""


class UnknownOutputError(FeedError):
    """output_names asks for an output the model does not have."""


# -- configuration ----------------------------------------------------------------------------


class ConfigError(RonnError, ValueError):
    """A session config (TOML or keyword arguments) is invalid."""


class UnknownConfigKeyError(ConfigError, KeyError):
    """A config key is not known; the message names the nearest valid key."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ConfigValueError(ConfigError):
    """A config key has a value outside what is allowed."""
