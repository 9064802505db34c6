"""The thin bridge between the dependency-injector container and Litestar.

At start-up (Litestar's lifespan) the bridge initialises the container's resources (audit trail,
model client) and resolves the services the handlers need *once*; handlers then get them through
small typed provider functions (``Provide(bridge.score_policy)``), a plain attribute read per
request. At shutdown it shuts the resources down: the audit trail drains and closes, the model client
closes. A test overrides a container provider (``container.model_client.override(fake)``) before the
app starts, and the bridge hands out the fake.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from riskscore.container import resolve, start, stop
from riskscore.domain.usecases.score_policy import ScorePolicy
from riskscore.ports.audit_trail import AuditTrail
from riskscore.ports.model_client import ModelClient

if TYPE_CHECKING:
    from riskscore.container import Container


class ContainerBridge:
    def __init__(self, container: Container) -> None:
        self.container = container
        self._score_policy: ScorePolicy | None = None
        self._model_client: ModelClient | None = None
        self._audit_trail: AuditTrail | None = None

    async def startup(self) -> None:
        await start(self.container)
        self._model_client = await resolve(self.container.model_client, ModelClient)
        self._audit_trail = await resolve(self.container.audit_trail, AuditTrail)
        self._score_policy = await resolve(self.container.score_policy, ScorePolicy)

    async def shutdown(self) -> None:
        await stop(self.container)

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
