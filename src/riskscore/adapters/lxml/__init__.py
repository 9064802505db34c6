"""lxml adapters: the hardened evidence parser."""

from riskscore.adapters.lxml.parser import LxmlEvidenceParser

__all__ = ["LxmlEvidenceParser"]
