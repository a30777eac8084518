"""The brain benchmarks: `ronn bench --suite brain`; benchmarks/brain/run.py writes the report."""
