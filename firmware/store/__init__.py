"""Layer package: store (append-only record store on the flash filesystem)."""
