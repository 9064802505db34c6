"""snowflake adapters."""
