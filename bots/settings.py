"""Every setting the bot reads, from the environment and `.env` (documented in .env.example)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from urllib.parse import quote
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Where the database, kept clips and finished videos live.
    aiwm_data_dir: Path = Field(default=Path("data"))
    aiwm_log_level: str = "INFO"
    aiwm_log_format: str = "text"  # "text" or "json"
    # On SIGTERM/SIGINT: seconds running work may finish after new messages stop (the rest resumes).
    aiwm_stop_grace: float = 30.0
    # Ops endpoints /healthz and /metrics (bots/ops_server.py): unset port = off, 0 = any free port.
    aiwm_ops_host: str = "127.0.0.1"
    aiwm_ops_port: int | None = None

    # Backend: unset NEMO_API_URL means the embedded local backend on loopback.
    nemo_api_url: str | None = None
    nemo_web_url: str = "https://nemovideo.com"
    nemo_token: SecretStr | None = None
    nemo_client_id: str | None = None

    # The embedded local backend.
    aiwm_backend_host: str = "127.0.0.1"
    aiwm_backend_port: int = 0  # 0 = any free port when started in-process

    # The music engine.
    aiwm_soundfont: Path | None = None  # None = the small Debian GM soundfont

    # Chat surfaces.
    telegram_bot_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org/bot"
    telegram_file_url: str = "https://api.telegram.org/file/bot"
    telegram_local_mode: bool = False  # a self-hosted telegram-bot-api server started with --local
    telegram_webhook_url: str | None = None  # set = webhook mode (the public HTTPS URL); unset = polling
    telegram_webhook_listen: str = "127.0.0.1"
    telegram_webhook_port: int = 8443
    telegram_webhook_secret: SecretStr | None = None  # unset = a random secret per start
    telegram_max_download_bytes: int | None = None  # unset = 20 MB (cloud API), no cap in local mode
    telegram_max_upload_bytes: int | None = None  # unset = 50 MB (cloud API), 2000 MB in local mode
    telegram_album_wait: float = 1.0  # seconds of quiet that end an album
    discord_bot_token: SecretStr | None = None
    discord_api_url: str | None = None  # REST base; the gateway comes from its GET /gateway/bot
    # Servers that get the commands at once (comma-separated ids); empty = global sync (slow to show).
    discord_guild_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    discord_sync_commands: bool = True  # register the commands with Discord at every start

    # Operator restrictions (core/policy.py). Ids are bare ("42") or per surface ("telegram:42").
    # Both lists empty = everyone; else a message passes if its user OR its chat is listed.
    aiwm_allowed_users: Annotated[list[str], NoDecode] = Field(default_factory=list)
    aiwm_allowed_chats: Annotated[list[str], NoDecode] = Field(default_factory=list)
    aiwm_admin_contact: str | None = None  # whom strangers are told to ask, e.g. "@alice"
    aiwm_rate_per_minute: int | None = 20  # messages causing work, per user; unset/0 = no limit
    aiwm_max_jobs_per_user: int | None = 2  # clips/exports queued or running per user; 0 = no cap
    aiwm_max_jobs: int | None = 8  # the same across all users; 0 = no cap
    aiwm_max_clip_mb: float | None = None  # largest clip accepted (MB); unset = only the platform's cap
    aiwm_max_clip_seconds: float | None = 600.0  # longest clip accepted; the engine takes up to 600

    # Backend outages and retention (core/conversation.py, core/housekeeping.py, backend/janitor.py).
    aiwm_backend_wait: float = 300.0  # seconds a chat waits for an unreachable backend before giving up
    aiwm_render_poll_interval: float = Field(default=10.0, gt=0)  # seconds between render status checks
    aiwm_clip_ttl_hours: float = 24.0  # how long received clips are kept to rebuild a lost backend session
    aiwm_housekeeping_minutes: float = 60.0  # how often expired clips and stale work folders are swept
    aiwm_render_keep_hours: float = 1.0  # embedded backend: a finished video is deleted this long after download
    aiwm_session_idle_days: float = 7.0  # embedded backend: an unused session is deleted with its uploads
    # Clip links pasted into a chat (core/links.py): caps for one fetch, and private networks a
    # link may reach anyway (comma-separated CIDRs, for intranet deployments; empty = public only).
    aiwm_link_max_mb: float = Field(default=200.0, gt=0)
    aiwm_link_timeout: float = Field(default=60.0, gt=0)
    aiwm_link_allowed_networks: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator("aiwm_allowed_users", "aiwm_allowed_chats", mode="before")
    @classmethod
    def _comma_separated_names(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("aiwm_rate_per_minute", "aiwm_max_jobs_per_user", "aiwm_max_jobs",
                     "aiwm_max_clip_mb", "aiwm_max_clip_seconds", mode="before")
    @classmethod
    def _blank_or_zero_is_none(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and value.strip() in ("", "0")):
            return None
        if isinstance(value, (int, float)) and value <= 0:
            return None
        return value

    @field_validator("aiwm_ops_port", mode="before")
    @classmethod
    def _blank_port_is_off(cls, value: object) -> object:
        # "AIWM_OPS_PORT=" in a .env means off, like leaving it out (0 means any free port).
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("aiwm_link_allowed_networks", mode="before")
    @classmethod
    def _comma_separated_networks(cls, value: object) -> object:
        parts = [part.strip() for part in value.split(",")] if isinstance(value, str) else value
        if isinstance(parts, list):
            for part in filter(None, parts):
                ipaddress.ip_network(part, strict=False)  # a typo fails at start, not at the first link
            return [part for part in parts if part]
        return value

    @field_validator("discord_guild_ids", mode="before")
    @classmethod
    def _comma_separated_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(part) for part in value.replace(" ", "").split(",") if part]
        return value

    def secrets(self) -> list[str]:
        """Every secret value set, so the log filter can mask them."""
        values = [self.nemo_token, self.telegram_bot_token, self.telegram_webhook_secret, self.discord_bot_token]
        found = [v.get_secret_value() for v in values if v is not None and v.get_secret_value()]
        if self.telegram_bot_token is not None and self.telegram_bot_token.get_secret_value():
            # Telegram file-download URLs carry the token URL-encoded ("123:ABC" -> "123%3AABC").
            found.append(quote(self.telegram_bot_token.get_secret_value(), safe=""))
        return found
