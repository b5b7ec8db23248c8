"""Layer package: taf."""
