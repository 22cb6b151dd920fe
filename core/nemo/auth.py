"""Where the client keeps its backend identity: a stable client id and the anonymous token.

The bot's SQLite store (`core.store.Store`) has `credential(name)` / `set_credential(name, value)`;
other stores may offer `get(name)` / `set(name, value)`. Without a store the values live in memory.
"""

from __future__ import annotations

from typing import Any, Protocol

CLIENT_ID = "nemo_client_id"
TOKEN = "nemo_token"
USER_ID = "nemo_user_id"
TOKEN_EXPIRES = "nemo_token_expires_at"


class CredentialStore(Protocol):
    async def credential(self, name: str) -> str | None: ...

    async def set_credential(self, name: str, value: str | None) -> None: ...


class MemoryCredentials:
    """A CredentialStore that forgets on exit (tests, one-off tools)."""

    def __init__(self, **values: str) -> None:
        self.values: dict[str, str] = dict(values)

    async def credential(self, name: str) -> str | None:
        return self.values.get(name)

    async def set_credential(self, name: str, value: str | None) -> None:
        if value is None:
            self.values.pop(name, None)
        else:
            self.values[name] = value


class Credentials:
    """Adapts whatever store was given to get/set by name."""

    def __init__(self, backing: Any | None) -> None:
        self.backing = backing if backing is not None else MemoryCredentials()

    async def get(self, name: str) -> str | None:
        if hasattr(self.backing, "credential"):
            return await self.backing.credential(name)
        return await self.backing.get(name)

    async def set(self, name: str, value: str | None) -> None:
        if hasattr(self.backing, "set_credential"):
            await self.backing.set_credential(name, value)
        else:
            await self.backing.set(name, value)
