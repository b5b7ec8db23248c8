"""Layer package: wan."""
