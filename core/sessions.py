"""One backend session per chat, created on first use and rebuilt when the backend loses it.

A group shares its chat's session. When the backend answers "no such session" (it restarted
without its data, or expired the session), a new one is made in the same language, the clips
kept for that chat are uploaded into it again, and the call is retried once: the user never
has to send the clip again while it is still kept.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Awaitable, Callable, TypeVar

from core.nemo.errors import SessionNotFound
from core.store import ChatSession, Store

log = logging.getLogger(__name__)
T = TypeVar("T")


class SessionRegistry:
    def __init__(self, client, store: Store) -> None:
        self._client = client
        self._store = store
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def existing(self, chat_key: str) -> str | None:
        saved = await self._store.chat_session(chat_key)
        return saved.session_id if saved else None

    async def session_for(self, chat_key: str, lang: str) -> str:
        async with self._locks[chat_key]:
            saved = await self._store.chat_session(chat_key)
            if saved is not None:
                return saved.session_id
            return await self._create(chat_key, lang)

    async def call(self, chat_key: str, lang: str, action: Callable[[str], Awaitable[T]]) -> T:
        """Run `action(session_id)`; if the backend lost the session, rebuild it and retry once."""
        session_id = await self.session_for(chat_key, lang)
        try:
            return await action(session_id)
        except SessionNotFound:
            log.info("backend lost the session of %s; rebuilding it", chat_key)
            session_id = await self.rebuild(chat_key, lang, lost=session_id)
            return await action(session_id)

    async def rebuild(self, chat_key: str, lang: str, *, lost: str | None = None) -> str:
        async with self._locks[chat_key]:
            saved = await self._store.chat_session(chat_key)
            if saved is not None and saved.session_id != lost:
                return saved.session_id  # another call already rebuilt it
            session_id = await self._create(chat_key, lang)
            clips = [clip.path for clip in await self._store.kept_clips(chat_key) if clip.path.exists()]
            if clips:
                await self._client.upload_files(session_id, clips)
            return session_id

    async def forget(self, chat_key: str) -> None:
        async with self._locks[chat_key]:
            await self._store.forget_chat_session(chat_key)

    async def _create(self, chat_key: str, lang: str) -> str:
        session_id = await self._client.create_session(lang)
        await self._store.save_chat_session(ChatSession(chat_key=chat_key, session_id=session_id,
                                                        task_id=None, language=lang))
        return session_id
