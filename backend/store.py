"""Everything the backend must remember across restarts, in one SQLite file.

Records are small JSON documents keyed by (kind, id): users, tokens, sessions, uploads, renders,
claims. They are cached in memory and written through on every change, so reads are free and a
restart reloads exactly what was last written. Media files live next to the database on disk.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path


class Store:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS records (kind TEXT, id TEXT, data TEXT, PRIMARY KEY (kind, id))")
        self._lock = threading.Lock()  # render threads write progress too
        self._cache: dict[str, dict[str, dict]] = {}
        for kind, key, data in self._db.execute("SELECT kind, id, data FROM records"):
            self._cache.setdefault(kind, {})[key] = json.loads(data)

    def get(self, kind: str, key: str) -> dict | None:
        return self._cache.get(kind, {}).get(key)

    def put(self, kind: str, key: str, data: dict) -> dict:
        text = json.dumps(data, ensure_ascii=False)
        with self._lock:
            self._cache.setdefault(kind, {})[key] = data
            self._db.execute("INSERT OR REPLACE INTO records (kind, id, data) VALUES (?, ?, ?)", (kind, key, text))
        return data

    def delete(self, kind: str, key: str) -> None:
        with self._lock:
            self._cache.get(kind, {}).pop(key, None)
            self._db.execute("DELETE FROM records WHERE kind = ? AND id = ?", (kind, key))

    def all(self, kind: str) -> list[dict]:
        return list(self._cache.get(kind, {}).values())

    def find(self, kind: str, field: str, value) -> dict | None:
        for record in self._cache.get(kind, {}).values():
            if record.get(field) == value:
                return record
        return None

    def close(self) -> None:
        with self._lock:
            self._db.close()
