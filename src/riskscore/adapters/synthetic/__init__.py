"""synthetic adapters."""
