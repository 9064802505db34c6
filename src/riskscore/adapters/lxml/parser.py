"""``LxmlEvidenceParser``: untrusted MIB and Rx XML -> ``PolicyEvidence``, with one hardened lxml
configuration.

Safety decisions (never relaxed; docs/evidence-format.md states the client-facing rules):

- libxml2 never expands an entity (``resolve_entities=False``), never loads a DTD (``load_dtd=False``,
  no validation, no attribute defaults), never touches the network (``no_network=True``) and keeps
  its own limits (``huge_tree=False``: depth 256, 10 MB text nodes, entity amplification).
- ``collect_ids`` stays at its default (True) on purpose: with ``collect_ids=False`` lxml sets a
  libxml2 "load subset" flag and libxml2 then *opens the external DTD* a ``<!DOCTYPE r SYSTEM
  "file:///...">`` names (seen with strace on lxml 6.1 / libxml2 2.14; a test pins it).
- Every DOCTYPE is refused (``ForbiddenConstruct``), not only those declaring entities: no known
  feed or sample carries one; a DTD can change what a document means (entity text, default
  attributes) depending on parser flags, so refusing it keeps the meaning a function of the bytes
  alone; and one rule is easy to check and to explain. With no DOCTYPE an entity reference can only
  be a predefined one (``&amp;``) or undeclared (not well-formed), so none survives into the tree.
- Size is checked before parsing; depth after parsing with one precompiled XPath
  (``boolean(/*/*/...)``, ``max_depth + 1`` steps), which runs in C and measured cheaper than any
  walk in Python. Deeper than libxml2's own limit of 256 never gets that far and is refused too.
- lxml parsers are not thread-safe, so each thread gets its own parser and XPath (``threading.local``).
- Every failure becomes an ``EvidenceError`` subtype whose message never quotes the document: only
  limits, line and column. lxml's own message can quote content, so it is dropped and the original
  exception is not chained (``from None``): a logged traceback must not carry evidence (FCRA).
- A ``str`` document is encoded to UTF-8 after dropping its XML declaration, whose encoding name
  would no longer be true; a ``str`` holding unpaired surrogates is not text and is refused.

Field reading is in ``reading`` and ``values``.
"""

from __future__ import annotations

import threading

from lxml import etree

from riskscore.adapters.lxml.reading import depth_probe, read_mib, read_rx
from riskscore.domain.evidence import MibReport, PolicyEvidence, RxReport
from riskscore.ports.evidence_parser import (
    Document,
    EvidenceParser,
    EvidenceTooDeep,
    EvidenceTooLarge,
    ForbiddenConstruct,
    MalformedEvidence,
)

LIBXML2_MAX_DEPTH = 256
_DOCTYPE_MARKERS = tuple("<!DOCTYPE".encode(codec) for codec in ("utf-8", "utf-16-le", "utf-16-be"))
_WHITESPACE = " \t\r\n"
# lxml-stubs lack ParseError.code and lxml 6's ``decompress``; all exist at runtime.
_RESOURCE_LIMIT: int = etree.ErrorTypes.ERR_RESOURCE_LIMIT


def hardened_parser() -> etree.XMLParser:
    """The one parser configuration riskscore uses for evidence (see the module docstring)."""
    return etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        dtd_validation=False,
        attribute_defaults=False,
        no_network=True,
        huge_tree=False,
        recover=False,
        decompress=False,  # type: ignore[call-arg]
        collect_ids=True,
        remove_comments=True,
        remove_pis=True,
        strip_cdata=True,
        remove_blank_text=True,
    )


class _PerThread(threading.local):
    """A parser and a depth probe for the current thread (``__init__`` runs once per thread)."""

    def __init__(self, max_depth: int) -> None:
        self.parser = hardened_parser()
        self.too_deep = depth_probe(max_depth)


class LxmlEvidenceParser(EvidenceParser):
    """Parses MIB and Rx reports; see the module docstring for the safety rules."""

    def __init__(self, *, max_bytes: int = 1_048_576, max_depth: int = 64) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        if not 1 <= max_depth <= LIBXML2_MAX_DEPTH:
            raise ValueError(f"max_depth must be between 1 and {LIBXML2_MAX_DEPTH}")
        self.max_bytes = max_bytes
        self.max_depth = max_depth
        self._local = _PerThread(max_depth)

    def parse(
        self, policy_number: str, mib_xml: str | bytes, rx_xml: str | bytes
    ) -> PolicyEvidence:
        return PolicyEvidence(
            policy_number=policy_number, mib=self.parse_mib(mib_xml), rx=self.parse_rx(rx_xml)
        )

    def parse_mib(self, xml: str | bytes) -> MibReport:
        return read_mib(self._load(xml, "mib_xml"))

    def parse_rx(self, xml: str | bytes) -> RxReport:
        return read_rx(self._load(xml, "rx_xml"))

    def _load(self, xml: object, document: Document) -> etree._Element:
        """The vetted root element of one document, or an ``EvidenceError``."""
        data = self._bytes(xml, document)
        if not data or data.isspace():
            raise MalformedEvidence("document is empty", document=document)
        local = self._local
        try:
            root = etree.fromstring(data, local.parser)
        except etree.XMLSyntaxError as exc:
            raise self._refusal(exc, data, document) from None
        except (etree.LxmlError, ValueError, LookupError, TypeError):
            raise MalformedEvidence("document is not readable as XML", document=document) from None
        if root.getroottree().docinfo.internalDTD is not None:
            raise _doctype_refusal(document)
        if local.too_deep(root):
            raise self._too_deep(document)
        return root

    def _bytes(self, xml: object, document: Document) -> bytes:
        if isinstance(xml, bytes):
            data = xml
        elif isinstance(xml, str):
            if len(xml) > self.max_bytes:  # a character is at least one byte
                raise self._too_large(document)
            data = _utf8(xml, document)
        else:
            raise MalformedEvidence("document must be XML text or bytes", document=document)
        if len(data) > self.max_bytes:
            raise self._too_large(document)
        return data

    def _refusal(
        self, exc: etree.XMLSyntaxError, data: bytes, document: Document
    ) -> MalformedEvidence | EvidenceTooDeep | ForbiddenConstruct:
        # lxml's message is read, never passed on: it may quote the document.
        limit_hit = exc.code == _RESOURCE_LIMIT  # type: ignore[attr-defined]
        if limit_hit and "depth" in str(exc).lower():
            return self._too_deep(document)
        if any(marker in data for marker in _DOCTYPE_MARKERS):
            return _doctype_refusal(document)
        if limit_hit:
            return MalformedEvidence("document exceeds a parser limit", document=document)
        line, column = exc.position
        return MalformedEvidence(
            f"not well-formed XML (line {line}, column {column})", document=document
        )

    def _too_large(self, document: Document) -> EvidenceTooLarge:
        return EvidenceTooLarge(
            f"document is larger than the limit of {self.max_bytes} bytes", document=document
        )

    def _too_deep(self, document: Document) -> EvidenceTooDeep:
        return EvidenceTooDeep(
            f"elements nest deeper than the limit of {self.max_depth} levels", document=document
        )


def _doctype_refusal(document: Document) -> ForbiddenConstruct:
    return ForbiddenConstruct(
        "DOCTYPE declarations are not allowed (no DTD, no entities, no external references)",
        document=document,
    )


def _utf8(text: str, document: Document) -> bytes:
    """``text`` as UTF-8 without a byte-order mark or XML declaration (whose encoding may lie now)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    if text.startswith("<?xml") and len(text) > 5 and text[5] in _WHITESPACE:
        end = text.find("?>")
        if end != -1:
            text = text[end + 2 :]
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedEvidence(
            "document text is not valid Unicode (unpaired surrogate)", document=document
        ) from None
