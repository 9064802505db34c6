"""httpx adapters."""
