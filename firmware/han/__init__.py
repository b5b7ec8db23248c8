"""Layer package: han."""
