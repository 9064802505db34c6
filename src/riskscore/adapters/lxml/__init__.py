"""lxml adapters."""
