"""RONN's standard graph passes (distribution ``ronn-passes``).

Every pass is a :class:`ronn_core.Pass` registered through the ``ronn`` entry point
(``ronn_passes.plugin``), exactly as a third-party pass would be. ``ALL_PASSES`` lists them;
:func:`ronn_passes.pipeline.optimize` runs a selection over a graph and reports node counts.
"""

from ronn_passes.registry import ALL_PASSES, RONN_DOMAIN

__version__ = "0.1.0"
__all__ = ["ALL_PASSES", "RONN_DOMAIN", "__version__"]
