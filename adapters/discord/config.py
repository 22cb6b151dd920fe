"""Everything the Discord surface needs to know, in one place (built from bots.settings)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.retry import RetryPolicy

# Discord interaction tokens live 15 minutes (followups and edits of the original response).
INTERACTION_TOKEN_LIFETIME = 15 * 60.0


@dataclass
class DiscordConfig:
    token: str = field(repr=False)  # never in a log line
    # REST base such as "https://discord.com/api/v10"; None = Discord itself. The gateway follows it.
    api_url: str | None = None
    # Guilds that get the commands at once (guild sync); empty = global sync (can take a while).
    guild_ids: list[int] = field(default_factory=list)
    sync_commands: bool = True
    # Where attachments land while they wait for the core (they are downloaded at once).
    staging_dir: Path = Path("data/tmp/discord")
    # Seconds an interaction token stays usable; tests shrink it to exercise the fallback.
    token_lifetime: float = INTERACTION_TOKEN_LIFETIME
    # Stop using the token this many seconds before it dies (an upload must finish in time).
    token_margin: float = 60.0
    # At most one progress edit per this many seconds (the last state always shows).
    progress_interval: float = 1.5
    # A downloaded attachment the core never claimed is deleted after this many seconds.
    staging_keep_for: float = 30 * 60.0
    # Attachments larger than this are not downloaded ahead; the core fetches them when it wants.
    max_prefetch_bytes: int = 512 * 1024 * 1024
    # Deliveries discord.py gave up on (dropped uploads, 5xx, 429 after its own 5 tries) are tried
    # again: at most retry_attempts calls, backoff retry_base * 2^n capped at retry_cap (never
    # below Discord's retry_after), giving up once retry_budget seconds of waiting would be exceeded.
    retry_attempts: int = 6
    retry_base: float = 1.0
    retry_cap: float = 30.0
    retry_budget: float = 300.0

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(attempts=self.retry_attempts, base=self.retry_base, cap=self.retry_cap,
                           budget=self.retry_budget)

    @classmethod
    def from_settings(cls, settings, **overrides) -> "DiscordConfig":
        if settings.discord_bot_token is None or not settings.discord_bot_token.get_secret_value():
            raise ValueError("DISCORD_BOT_TOKEN is not set")
        values = dict(
            token=settings.discord_bot_token.get_secret_value(),
            api_url=settings.discord_api_url or None,
            guild_ids=list(getattr(settings, "discord_guild_ids", []) or []),
            sync_commands=bool(getattr(settings, "discord_sync_commands", True)),
            staging_dir=Path(settings.aiwm_data_dir) / "tmp" / "discord",
        )
        values.update(overrides)
        return cls(**values)
