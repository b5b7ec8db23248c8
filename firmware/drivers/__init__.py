"""One module per chip; each driver gets its bus object injected (never constructs it)."""
