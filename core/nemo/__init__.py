"""The Nemo API client (docs/nemo-api.md): the only way the bot talks to a backend."""

from core.nemo.auth import CredentialStore, MemoryCredentials
from core.nemo.client import Credits, NemoClient, RenderResult, SessionInfo

__all__ = ["CredentialStore", "Credits", "MemoryCredentials", "NemoClient", "RenderResult", "SessionInfo"]
