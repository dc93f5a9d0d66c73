"""Benchmarks and the generated corpus they run on (``make bench``)."""
