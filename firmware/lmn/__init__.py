"""Layer package: lmn."""
