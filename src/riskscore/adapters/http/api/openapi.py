"""OpenAPI for handlers that read their body themselves.

The scoring handlers decode ``await request.body()`` with reused msgspec decoders (faster than
Litestar's signature-model path, and it keeps error details ours), so Litestar cannot see a ``data``
parameter to document. ``body_operation`` gives such a handler an ``Operation`` class that declares the
request body inline from msgspec's own JSON Schema of the wire struct (inline because Litestar
replaces the component schemas with its own registry; the body structs reference no other struct).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from litestar.openapi.spec import OpenAPIMediaType, Operation, RequestBody


def body_operation(body_type: type[Any], description: str) -> type[Operation]:
    _, components = msgspec.json.schema_components((body_type,))
    if set(components) != {body_type.__name__}:
        raise TypeError(f"{body_type.__name__} references other structs; inline them first")
    schema = components[body_type.__name__]
    # A plain JSON Schema dict serialises as is (BaseSchemaObject passes dicts through).
    media = OpenAPIMediaType(schema=schema)
    body = RequestBody(
        content={"application/json": media},
        description=description,
        required=True,
    )

    @dataclass
    class BodyOperation(Operation):
        def __post_init__(self) -> None:
            self.request_body = body

    BodyOperation.__name__ = f"{body_type.__name__}Operation"
    return BodyOperation
