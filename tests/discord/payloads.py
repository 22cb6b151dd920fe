"""Interaction and message payloads as Discord's gateway sends them (only the fields we need)."""

from __future__ import annotations

import itertools

from tests.discord.fake_discord import APP_ID, CHANNEL_ID, GUILD_ID, TIMESTAMP, USER

DM_CHANNEL_ID = 6660009
_ids = itertools.count(1_000_000_001)


def next_id() -> int:
    return next(_ids)


def attachment(url: str, *, filename: str = "clip.mp4", content_type: str | None = "video/mp4",
               size: int = 1000) -> dict:
    data = {"id": str(next_id()), "filename": filename, "size": size, "url": url, "proxy_url": url,
            "width": 320, "height": 240}
    if content_type is not None:
        data["content_type"] = content_type
    return data


def _base(data: dict, *, guild: bool, locale: str, size_limit: int, token: str | None) -> dict:
    iid = next_id()
    payload = {
        "id": str(iid), "application_id": str(APP_ID), "type": 2, "token": token or f"tok{iid}",
        "version": 1, "locale": locale, "attachment_size_limit": size_limit, "data": data,
        "app_permissions": "0", "entitlements": [], "authorizing_integration_owners": {},
    }
    if guild:
        payload["guild_id"] = str(GUILD_ID)
        payload["guild_locale"] = "en-US"
        payload["channel"] = {"id": str(CHANNEL_ID), "type": 0, "name": "general", "position": 0,
                              "guild_id": str(GUILD_ID), "permission_overwrites": [], "nsfw": False,
                              "parent_id": None}
        payload["channel_id"] = str(CHANNEL_ID)
        payload["member"] = {"user": USER, "roles": [], "joined_at": TIMESTAMP, "deaf": False, "mute": False,
                             "permissions": "2048", "flags": 0}
        payload["context"] = 0
    else:
        payload["channel"] = {"id": str(DM_CHANNEL_ID), "type": 1, "recipients": [USER]}
        payload["channel_id"] = str(DM_CHANNEL_ID)
        payload["user"] = USER
        payload["context"] = 1
    return payload


def slash(name: str, *, options: list[dict] | None = None, attachments: list[dict] | None = None,
          guild: bool = True, locale: str = "en-US", size_limit: int = 10 * 1024 * 1024,
          token: str | None = None) -> dict:
    data: dict = {"id": str(next_id()), "name": name, "type": 1, "options": options or []}
    if attachments:
        data["resolved"] = {"attachments": {a["id"]: a for a in attachments}}
    return _base(data, guild=guild, locale=locale, size_limit=size_limit, token=token)


def music(att: dict | None, prompt: str | None = None, **kw) -> dict:
    options = []
    if att is not None:
        options.append({"name": "video", "type": 11, "value": att["id"]})
    if prompt is not None:
        options.append({"name": "prompt", "type": 3, "value": prompt})
    return slash("music", options=options, attachments=[att] if att else None, **kw)


def user_message(content: str, *, attachments: list[dict] | None = None, mentions: list[dict] | None = None,
                 guild: bool = True) -> dict:
    msg = {
        "id": str(next_id()), "channel_id": str(CHANNEL_ID if guild else DM_CHANNEL_ID), "type": 0,
        "content": content, "author": USER, "attachments": attachments or [], "embeds": [],
        "mentions": mentions or [], "mention_roles": [], "pinned": False, "mention_everyone": False,
        "tts": False, "timestamp": TIMESTAMP, "edited_timestamp": None, "flags": 0, "components": [],
    }
    if guild:
        msg["guild_id"] = str(GUILD_ID)
        msg["member"] = {"roles": [], "joined_at": TIMESTAMP, "deaf": False, "mute": False}
    return msg


def add_music_menu(message: dict, **kw) -> dict:
    data = {"id": str(next_id()), "name": "Add music", "type": 3, "target_id": message["id"],
            "resolved": {"messages": {message["id"]: message}}}
    return _base(data, guild=kw.pop("guild", True), locale=kw.pop("locale", "en-US"),
                 size_limit=kw.pop("size_limit", 10 * 1024 * 1024), token=kw.pop("token", None))
