"""Turning untrusted MIB and Rx XML into ``PolicyEvidence``."""

from __future__ import annotations

from typing import ClassVar, Literal, Protocol, runtime_checkable

from riskscore.domain.evidence import PolicyEvidence

Document = Literal["mib_xml", "rx_xml"]


class EvidenceError(Exception):
    """Bad evidence. ``message`` is safe to show an API client: it never quotes document content."""

    type: ClassVar[str] = "invalid-evidence"
    title: ClassVar[str] = "Invalid evidence document"

    def __init__(self, message: str, *, document: Document | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.document = document

    def __str__(self) -> str:
        return f"{self.document}: {self.message}" if self.document else self.message


class MalformedEvidence(EvidenceError):
    type = "malformed-evidence"
    title = "Evidence document is not well-formed XML"


class EvidenceTooLarge(EvidenceError):
    type = "evidence-too-large"
    title = "Evidence document exceeds the size limit"


class EvidenceTooDeep(EvidenceError):
    type = "evidence-too-deep"
    title = "Evidence document exceeds the nesting-depth limit"


class ForbiddenConstruct(EvidenceError):
    type = "forbidden-xml-construct"
    title = "Evidence document uses a forbidden XML construct"


@runtime_checkable
class EvidenceParser(Protocol):
    def parse(
        self, policy_number: str, mib_xml: str | bytes, rx_xml: str | bytes
    ) -> PolicyEvidence:
        """Parse both documents; raise an ``EvidenceError`` subtype and nothing else on bad input."""
        ...
