"""The DVC stages: thin functions that read their inputs, call the pure functions below and write atomically."""
