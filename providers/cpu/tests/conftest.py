"""Make the shared reference harness importable from the CPU provider's test modules."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
