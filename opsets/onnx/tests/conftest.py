"""Make the one-node test harness importable from the op test modules."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
