"""The GPU provider's kernels, one module per family, registered with ``provider="gpu"``.

Every kernel is a factory (``factory=True``): it reads attributes and constant inputs once at
session creation (weights go to the device then, prepacked) and returns the callable that runs
the node on ``build.provider.backend``. Only ``backend.xp`` (CuPy, or numpy in the interpreter
backend) and the Triton launchers are used, so the same code runs on both backends.
"""
