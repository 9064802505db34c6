"""riskscore: real-time underwriting risk scoring from MIB and Rx-history evidence."""

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from riskscore.adapters.batch.api import rescore as rescore


def __getattr__(name: str) -> Any:
    # Lazy: ``import riskscore`` stays light; ``riskscore.rescore`` (a callable module) loads on use.
    if name == "rescore":
        import importlib

        return importlib.import_module("riskscore.rescore")
    raise AttributeError(f"module 'riskscore' has no attribute {name!r}")
