"""RONN: run ONNX models from Python, with plugins for operators, providers and passes.

    import ronn
    session = ronn.Model.load("model.onnx").create_session(providers=["cpu"])
    outputs = session.run({"input": x})
"""

from ronn.inference_session import InferenceSession
from ronn.model import Model
from ronn_core.config import SessionConfig, load_config
from ronn_core.errors import RonnError
from ronn_core.runtime import Runtime
from ronn_core.session import Session

__version__ = "0.1.0"
__all__ = ["InferenceSession", "Model", "RonnError", "Runtime", "Session", "SessionConfig",
           "load_config"]
