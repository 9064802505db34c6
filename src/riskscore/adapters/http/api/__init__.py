"""The scoring API (Litestar): ``create_app(container)``."""
