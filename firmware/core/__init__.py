"""Layer package: core."""
