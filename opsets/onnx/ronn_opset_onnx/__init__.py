"""RONN's ai.onnx operator set: readable numpy reference kernels, one module per op family."""

__version__ = "0.1.0"
