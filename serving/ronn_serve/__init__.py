"""ronn-serve: async, dynamically batched model serving over the KServe v2 protocol."""

__version__ = "0.1.0"
