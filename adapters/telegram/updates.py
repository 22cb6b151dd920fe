"""Reading updates one at a time, so one Telegram can't parse never stalls every chat.

PTB parses a getUpdates batch as a whole: one update it can't read (a field it requires missing,
an object of the wrong type) makes `get_updates` raise, the Updater never advances its offset,
and it fetches the same batch forever. `TolerantBot` parses each update on its own, logs and
drops the ones that fail, and confirms them at Telegram on the next call, even when a whole batch
was unreadable (the Updater only moves its offset past updates it was given).
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from telegram import Update
from telegram.ext import ExtBot

log = logging.getLogger(__name__)


def parse_update(data: object, bot: Any) -> Update | None:
    """The Update in `data`, or None (logged with its update_id only) when PTB can't read it."""
    try:
        if not isinstance(data, dict):
            raise TypeError("update is not an object")
        # de_json copies shallowly; probe on a deep copy so the raw dict stays as Telegram sent it.
        return Update.de_json(copy.deepcopy(data), bot)
    except Exception as error:
        log.warning("telegram: skipped update %s that could not be read (%s)", update_id_of(data),
                    type(error).__name__)
        return None


def update_id_of(data: object) -> int | None:
    value = data.get("update_id") if isinstance(data, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class TolerantBot(ExtBot):
    """ExtBot whose getUpdates skips unreadable updates instead of failing the whole batch."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._skipped_through: int | None = None  # highest update_id dropped and not yet confirmed

    async def _post(self, endpoint: str, data: dict | None = None, **kwargs: Any) -> Any:
        if endpoint == "getUpdates" and data is not None and self._skipped_through is not None:
            offset = data.get("offset")
            # Ask from past the dropped ones, which confirms them: Telegram won't send them again.
            if offset is None or 0 <= offset <= self._skipped_through:
                data["offset"] = self._skipped_through + 1
            self._skipped_through = None
        result = await super()._post(endpoint, data, **kwargs)
        if endpoint != "getUpdates" or not isinstance(result, list):
            return result
        return self._readable(result)

    def _readable(self, raw: list) -> list:
        """The raw updates PTB can read; remembers the highest id of any dropped after them."""
        kept: list = []
        highest_kept = -1
        highest_dropped = -1
        for data in raw:
            if parse_update(data, self) is not None:
                kept.append(data)
                highest_kept = max(highest_kept, data["update_id"])
            else:
                highest_dropped = max(highest_dropped, update_id_of(data) or -1)
        # The Updater confirms up to the last update it gets; dropped ones past that need us.
        if highest_dropped > highest_kept:
            self._skipped_through = highest_dropped
        return kept
