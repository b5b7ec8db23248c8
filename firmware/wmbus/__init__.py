"""Layer package: wmbus."""
