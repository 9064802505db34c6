"""The thin bridge between the dependency-injector container and Litestar.

At start-up (Litestar's lifespan) the bridge initialises the container's resources (audit trail,
model client) and resolves the services the handlers need *once*; handlers then get them through
small typed provider functions (``Provide(bridge.score_policy)``), a plain attribute read per
request. At shutdown it shuts the resources down: the audit trail drains and closes, the model client
closes. A test overrides a container provider (``container.model_client.override(fake)``) before the
app starts, and the bridge hands out the fake.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, TypeVar

from riskscore.domain.usecases.score_policy import ScorePolicy
from riskscore.ports.audit_trail import AuditTrail
from riskscore.ports.model_client import ModelClient

if TYPE_CHECKING:
    from riskscore.container import Container

T = TypeVar("T")


async def resolve(provider: Any, expected: type[T]) -> T:
    """Call a provider; await it when it is async (it depends on an async resource)."""
    value = provider()
    if inspect.isawaitable(value):
        value = await value
    if not isinstance(value, expected):
        raise TypeError(f"the container gave {type(value).__name__}, not {expected.__name__}")
    return value


class ContainerBridge:
    def __init__(self, container: Container) -> None:
        self.container = container
        self._score_policy: ScorePolicy | None = None
        self._model_client: ModelClient | None = None
        self._audit_trail: AuditTrail | None = None

    async def startup(self) -> None:
        pending = self.container.init_resources()
        if inspect.isawaitable(pending):
            await pending
        self._model_client = await resolve(self.container.model_client, ModelClient)
        self._audit_trail = await resolve(self.container.audit_trail, AuditTrail)
        self._score_policy = await resolve(self.container.score_policy, ScorePolicy)

    async def shutdown(self) -> None:
        pending = self.container.shutdown_resources()
        if inspect.isawaitable(pending):
            await pending

    def score_policy(self) -> ScorePolicy:
        if self._score_policy is None:
            raise RuntimeError("the app has not started")
        return self._score_policy

    def model_client(self) -> ModelClient:
        if self._model_client is None:
            raise RuntimeError("the app has not started")
        return self._model_client

    def audit_trail(self) -> AuditTrail:
        if self._audit_trail is None:
            raise RuntimeError("the app has not started")
        return self._audit_trail
