"""Adapters, grouped by technology and named technology-first."""
