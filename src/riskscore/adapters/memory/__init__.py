"""memory adapters."""
