"""RONN brain modules: session modules that route, remember, consolidate and keep learning.

Enable them per session: ``create_session(modules={"cascade": {...}, "episodic": {...}})`` or
``[modules.cascade]`` tables in a TOML session config. See ``brain/README.md``.
"""

from ronn_brain.cascade import CascadeModule
from ronn_brain.consolidation import ConsolidationModule
from ronn_brain.continual import ContinualModule
from ronn_brain.episodic import EpisodicModule
from ronn_brain.semantic import SemanticModule
from ronn_brain.working import WorkingMemoryModule

MODULES = (CascadeModule, WorkingMemoryModule, EpisodicModule, SemanticModule,
           ConsolidationModule, ContinualModule)

__all__ = ["MODULES", "CascadeModule", "ConsolidationModule", "ContinualModule",
           "EpisodicModule", "SemanticModule", "WorkingMemoryModule"]
