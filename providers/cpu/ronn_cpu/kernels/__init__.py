"""The CPU provider's fast kernels (``provider="cpu"``): they win over the reference kernels."""
