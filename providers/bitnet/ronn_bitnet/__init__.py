"""ronn-provider-bitnet: BitNet b1.58 inference for ONNX models in RONN.

Modules: ``packing`` (ternarization, the 2-bit packing, activation quantization: the exact
definitions), ``schema`` and ``reference`` (``com.ronn.bitnet::BitLinear``: its contract and the
numpy reference kernel every cpu provider runs), ``simd`` and ``fast`` (the numba I2_S and TL
kernels, AVX2 and portable), ``prepared`` (a layer ready to run, and the measured choice of
kernel per shape), ``provider`` (the ``bitnet`` execution provider), ``quantize`` and
``quantize_cli`` (``ronn quantize --scheme ternary``), ``bench`` (``ronn bench --suite bitnet``),
``models`` (small ONNX models for tests and benchmarks), ``plugin`` (the entry point).
"""

DOMAIN = "com.ronn.bitnet"
OPSET = 1
__version__ = "0.1.0"
