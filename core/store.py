"""The bot's memory in SQLite: chat -> backend session, backend credentials, jobs and kept clips.

One file in the data folder, readable by the owner only (it holds the backend token).
Jobs are written at every step, so a restarted bot can resume pending renders and deliver each
video exactly once.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aiosqlite

SCHEMA = """
CREATE TABLE IF NOT EXISTS chats (
    chat_key TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    task_id TEXT,
    language TEXT,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS credentials (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    chat_key TEXT NOT NULL,
    surface TEXT NOT NULL,
    chat_id TEXT NOT NULL,
    delivery TEXT NOT NULL,
    language TEXT NOT NULL,
    state TEXT NOT NULL,
    session_id TEXT,
    render_id TEXT,
    caption TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
CREATE TABLE IF NOT EXISTS clips (
    id TEXT PRIMARY KEY,
    chat_key TEXT NOT NULL,
    path TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS clips_chat ON clips(chat_key);
CREATE TABLE IF NOT EXISTS work (
    id TEXT PRIMARY KEY,
    chat_key TEXT NOT NULL,
    surface TEXT NOT NULL,
    chat_id TEXT NOT NULL,
    delivery TEXT NOT NULL,
    language TEXT NOT NULL,
    kind TEXT NOT NULL,
    message_id TEXT,
    job_id TEXT,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS handled_messages (
    chat_key TEXT NOT NULL,
    message_id TEXT NOT NULL,
    seen_at REAL NOT NULL,
    PRIMARY KEY (chat_key, message_id)
);
"""

# Job states. A job is "open" until it is delivered, failed or abandoned.
RENDERING = "rendering"  # render submitted, render_id known
SENDING = "sending"  # the file is being uploaded to the chat
DELIVERED = "delivered"
FAILED = "failed"
OPEN_STATES = (RENDERING, SENDING)


@dataclass
class ChatSession:
    chat_key: str
    session_id: str
    task_id: str | None
    language: str | None


@dataclass
class Job:
    id: str
    chat_key: str
    surface: str
    chat_id: str
    delivery: dict
    language: str
    state: str
    session_id: str | None = None
    render_id: str | None = None
    caption: str | None = None
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)


@dataclass
class WorkEntry:
    """One accepted heavy item (clip, upload, turn, export) in the work journal, until it ends."""

    id: str
    chat_key: str
    surface: str
    chat_id: str
    delivery: dict
    language: str
    kind: str
    message_id: str | None = None
    job_id: str | None = None  # set once the item's export job exists: the job resume owns it then
    created_at: float = field(default_factory=time.time)


@dataclass
class KeptClip:
    id: str
    chat_key: str
    path: Path
    expires_at: float


class Store:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._db: aiosqlite.Connection | None = None

    async def open(self) -> "Store":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            # Create it owner-only before SQLite writes a byte: it will hold the backend token.
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        os.chmod(self.path, 0o600)
        self._db = await aiosqlite.connect(self.path)
        self._db.row_factory = aiosqlite.Row
        await self._db.execute("PRAGMA journal_mode=WAL")
        await self._db.execute("PRAGMA synchronous=NORMAL")
        await self._db.executescript(SCHEMA)
        await self._db.commit()
        return self

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("store is not open")
        return self._db

    # --- chats -----------------------------------------------------------------------------

    async def chat_session(self, chat_key: str) -> ChatSession | None:
        async with self.db.execute(
            "SELECT chat_key, session_id, task_id, language FROM chats WHERE chat_key = ?", (chat_key,)
        ) as cursor:
            row = await cursor.fetchone()
        return ChatSession(**dict(row)) if row else None

    async def save_chat_session(self, session: ChatSession) -> None:
        await self.db.execute(
            "INSERT INTO chats(chat_key, session_id, task_id, language, created_at) VALUES (?,?,?,?,?) "
            "ON CONFLICT(chat_key) DO UPDATE SET session_id=excluded.session_id, task_id=excluded.task_id, "
            "language=excluded.language, created_at=excluded.created_at",
            (session.chat_key, session.session_id, session.task_id, session.language, time.time()),
        )
        await self.db.commit()

    async def forget_chat_session(self, chat_key: str) -> None:
        await self.db.execute("DELETE FROM chats WHERE chat_key = ?", (chat_key,))
        await self.db.commit()

    # --- credentials -----------------------------------------------------------------------

    async def credential(self, name: str) -> str | None:
        async with self.db.execute("SELECT value FROM credentials WHERE name = ?", (name,)) as cursor:
            row = await cursor.fetchone()
        return row["value"] if row else None

    async def set_credential(self, name: str, value: str | None) -> None:
        if value is None:
            await self.db.execute("DELETE FROM credentials WHERE name = ?", (name,))
        else:
            await self.db.execute(
                "INSERT INTO credentials(name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value=excluded.value",
                (name, value),
            )
        await self.db.commit()

    # --- jobs --------------------------------------------------------------------------------

    async def add_job(self, job: Job, work_ids: tuple[str, ...] | list[str] = ()) -> Job:
        """Save a new job; `work_ids` (journal entries it came from) are linked in the same commit."""
        await self.db.execute(
            "INSERT INTO jobs(id, chat_key, surface, chat_id, delivery, language, state, session_id, "
            "render_id, caption, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (job.id, job.chat_key, job.surface, job.chat_id, json.dumps(job.delivery), job.language,
             job.state, job.session_id, job.render_id, job.caption, job.created_at, job.updated_at),
        )
        if work_ids:
            marks = ",".join("?" for _ in work_ids)
            await self.db.execute(f"UPDATE work SET job_id = ? WHERE id IN ({marks})", [job.id, *work_ids])
        await self.db.commit()
        return job

    async def update_job(self, job_id: str, **changes: object) -> None:
        allowed = {"state", "session_id", "render_id", "caption"}
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(f"cannot update job fields {sorted(unknown)}")
        columns = ", ".join(f"{name} = ?" for name in changes)
        values = list(changes.values()) + [time.time(), job_id]
        await self.db.execute(f"UPDATE jobs SET {columns}, updated_at = ? WHERE id = ?", values)
        await self.db.commit()

    async def claim_delivery(self, job_id: str) -> bool:
        """Move a job from rendering to sending exactly once; False if someone already did."""
        cursor = await self.db.execute(
            "UPDATE jobs SET state = ?, updated_at = ? WHERE id = ? AND state = ?",
            (SENDING, time.time(), job_id, RENDERING),
        )
        await self.db.commit()
        return cursor.rowcount == 1

    async def job(self, job_id: str) -> Job | None:
        async with self.db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)) as cursor:
            row = await cursor.fetchone()
        return _job(row) if row else None

    async def open_jobs(self) -> list[Job]:
        marks = ",".join("?" for _ in OPEN_STATES)
        async with self.db.execute(
            f"SELECT * FROM jobs WHERE state IN ({marks}) ORDER BY created_at", OPEN_STATES
        ) as cursor:
            rows = await cursor.fetchall()
        return [_job(row) for row in rows]

    # --- kept clips --------------------------------------------------------------------------

    async def keep_clip(self, chat_key: str, path: Path, ttl_seconds: float) -> KeptClip:
        clip = KeptClip(uuid.uuid4().hex, chat_key, Path(path), time.time() + ttl_seconds)
        await self.db.execute(
            "INSERT INTO clips(id, chat_key, path, created_at, expires_at) VALUES (?,?,?,?,?)",
            (clip.id, chat_key, str(clip.path), time.time(), clip.expires_at),
        )
        await self.db.commit()
        return clip

    async def kept_clips(self, chat_key: str) -> list[KeptClip]:
        async with self.db.execute(
            "SELECT id, chat_key, path, expires_at FROM clips WHERE chat_key = ? AND expires_at > ? "
            "ORDER BY created_at",
            (chat_key, time.time()),
        ) as cursor:
            rows = await cursor.fetchall()
        return [KeptClip(r["id"], r["chat_key"], Path(r["path"]), r["expires_at"]) for r in rows]

    async def forget_clips(self, chat_key: str) -> list[Path]:
        async with self.db.execute("SELECT path FROM clips WHERE chat_key = ?", (chat_key,)) as cursor:
            paths = [Path(r["path"]) for r in await cursor.fetchall()]
        await self.db.execute("DELETE FROM clips WHERE chat_key = ?", (chat_key,))
        await self.db.commit()
        return paths

    async def expire_clips(self, now: float | None = None) -> list[Path]:
        """Drop clips past their time; returns their paths so the caller can delete the files."""
        now = time.time() if now is None else now
        async with self.db.execute("SELECT path FROM clips WHERE expires_at <= ?", (now,)) as cursor:
            paths = [Path(r["path"]) for r in await cursor.fetchall()]
        await self.db.execute("DELETE FROM clips WHERE expires_at <= ?", (now,))
        await self.db.commit()
        return paths


    # --- the work journal (core/journal.py) -----------------------------------------------------

    async def add_work(self, entry: WorkEntry) -> bool:
        """Record accepted work; False (and nothing written) when its message was handled before.

        The message mark and the entry are one transaction, so a Telegram update delivered again
        after a crash can never start a second turn or a second video.
        """
        if entry.message_id is not None:
            # OR IGNORE, not a rollback: the connection is shared, a rollback could undo others' writes.
            cursor = await self.db.execute(
                "INSERT OR IGNORE INTO handled_messages(chat_key, message_id, seen_at) VALUES (?,?,?)",
                (entry.chat_key, entry.message_id, time.time()))
            if cursor.rowcount != 1:
                return False
        await self.db.execute(
            "INSERT INTO work(id, chat_key, surface, chat_id, delivery, language, kind, message_id, job_id, "
            "created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (entry.id, entry.chat_key, entry.surface, entry.chat_id, json.dumps(entry.delivery),
             entry.language, entry.kind, entry.message_id, entry.job_id, entry.created_at))
        await self.db.commit()
        return True

    async def finish_work(self, work_ids: list[str]) -> None:
        if not work_ids:
            return
        marks = ",".join("?" for _ in work_ids)
        await self.db.execute(f"DELETE FROM work WHERE id IN ({marks})", work_ids)
        await self.db.commit()

    async def finish_chat_work(self, chat_key: str) -> None:
        await self.db.execute("DELETE FROM work WHERE chat_key = ?", (chat_key,))
        await self.db.commit()

    async def leftover_work(self) -> list[WorkEntry]:
        async with self.db.execute("SELECT * FROM work ORDER BY created_at") as cursor:
            rows = await cursor.fetchall()
        entries = []
        for row in rows:
            data = dict(row)
            data["delivery"] = json.loads(data["delivery"])
            entries.append(WorkEntry(**data))
        return entries

    async def forget_handled_messages(self, older_than: float) -> None:
        """Drop message marks older than a time (Telegram re-sends an update for at most a day)."""
        await self.db.execute("DELETE FROM handled_messages WHERE seen_at < ?", (older_than,))
        await self.db.commit()


def _job(row: aiosqlite.Row) -> Job:
    data = dict(row)
    data["delivery"] = json.loads(data["delivery"])
    return Job(**data)
