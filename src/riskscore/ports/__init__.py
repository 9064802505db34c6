"""Ports: narrow typing.Protocol interfaces the domain depends on, each with its own errors."""
