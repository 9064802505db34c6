"""localfs adapters."""
