"""RFC 9457 problem details: every error of the API, mapped from the exception that caused it.

A problem's ``type`` is ``urn:riskscore:problem:<slug>``; the slugs are listed in docs/api.md and are
the same strings a service-function row error carries in ``error.type``. ``detail`` is specific
and safe to show: it never quotes evidence content. Extension members: ``errors`` (one entry per
invalid field, ``pointer`` being a JSONPath such as ``$.policy_number``), ``document`` (which
evidence document was refused) and ``request_id``.

Status choices (ours): bad JSON or fields 400; evidence that is well-formed JSON but not acceptable
XML 422 (the request is understood, the document cannot be processed); bodies and batches over the
limits 413; overload, an unreachable model or a refusing audit trail 503 with ``Retry-After``.
"""

from __future__ import annotations

import math

import msgspec

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:riskscore:problem:"


class FieldError(msgspec.Struct, frozen=True, kw_only=True):
    pointer: str
    detail: str


class Problem(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    request_id: str | None = None
    document: str | None = None
    errors: tuple[FieldError, ...] | None = None


class ApiProblem(Exception):
    """Raised by handlers and guards; the exception handler answers it as problem+json."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        *,
        document: str | None = None,
        errors: tuple[FieldError, ...] | None = None,
        retry_after_s: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.document = document
        self.errors = errors
        self.headers = dict(headers or {})
        if retry_after_s is not None:
            self.headers["Retry-After"] = str(max(1, math.ceil(retry_after_s)))

    def problem(self, *, instance: str | None, request_id: str | None) -> Problem:
        return Problem(
            type=TYPE_PREFIX + self.slug,
            title=self.title,
            status=self.status,
            detail=self.detail,
            instance=instance,
            request_id=request_id,
            document=self.document,
            errors=self.errors,
        )


def malformed_json(exc: msgspec.DecodeError) -> ApiProblem:
    return ApiProblem(400, "malformed-json", "Request body is not valid JSON", str(exc))


def invalid_request(exc: msgspec.ValidationError) -> ApiProblem:
    """msgspec says e.g. "Expected `str`, got `int` - at `$.policy_number`": split off the path."""
    message = str(exc)
    detail, sep, path = message.rpartition(" - at ")
    if not sep:
        detail, path = message, "`$`"
    return ApiProblem(
        400,
        "invalid-request",
        "Request body does not match the schema",
        message,
        errors=(FieldError(pointer=path.strip("`"), detail=detail),),
    )


def too_large(limit_bytes: int) -> ApiProblem:
    return ApiProblem(
        413,
        "request-too-large",
        "Request body exceeds the size limit",
        f"the request body is larger than {limit_bytes} bytes",
    )
