"""The Telegram adapter's settings, with the platform's limits worked out once.

The adapter imports nothing from `bots/`: the composition root hands it a settings object (any
object with the `telegram_*` attributes of `bots.settings.Settings`) or builds a config directly.
"""

from __future__ import annotations

import secrets as _secrets
from dataclasses import dataclass

from core.retry import RetryPolicy

MB = 1024 * 1024
# The cloud Bot API: bots may download files up to 20 MB and upload videos up to 50 MB.
PUBLIC_MAX_DOWNLOAD = 20 * MB
PUBLIC_MAX_UPLOAD = 50 * MB
# A self-hosted telegram-bot-api server in --local mode: no download cap, uploads up to 2000 MB.
LOCAL_MAX_UPLOAD = 2000 * MB


@dataclass(frozen=True)
class TelegramConfig:
    token: str
    api_url: str = "https://api.telegram.org/bot"  # PTB appends the token
    file_url: str = "https://api.telegram.org/file/bot"
    local_mode: bool = False  # a self-hosted Bot API server started with --local
    # Webhook mode when webhook_url is set (the public HTTPS address Telegram posts to);
    # the adapter listens on webhook_listen:webhook_port (behind a TLS-terminating proxy).
    webhook_url: str | None = None
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = 8443
    webhook_secret: str | None = None  # None = a random secret per start
    max_download_bytes: int | None = None  # None = 20 MB on the cloud API, no cap in local mode
    max_upload_bytes: int | None = None  # None = 50 MB on the cloud API, 2000 MB in local mode
    album_wait: float = 1.0  # quiet time that ends an album (Telegram sends no end marker)
    album_max_wait: float = 10.0  # an album is delivered at the latest this long after its first part
    edit_interval: float = 3.0  # least time between edits of the status message
    group_edit_interval: float = 6.0  # groups have a budget of ~20 messages a minute
    action_interval: float = 4.0  # "sending video…" lasts 5 s, so refresh a little sooner
    group_action_interval: float = 10.0
    media_timeout: float = 300.0  # write/read timeout for video uploads and downloads (seconds)
    poll_timeout: int = 30  # long-poll seconds for getUpdates
    stop_grace: float = 5.0  # on stop, how long event handlers may finish before being cancelled
    # Retries of deliveries (sendVideo, sendMessage) after 429s, 5xx and dropped connections:
    # at most retry_attempts calls, backoff retry_base * 2^n (capped at retry_cap, never below
    # Telegram's retry_after), giving up once retry_budget seconds of waiting would be exceeded.
    retry_attempts: int = 6
    retry_base: float = 1.0
    retry_cap: float = 30.0
    retry_budget: float = 300.0

    @property
    def download_limit(self) -> int | None:
        if self.max_download_bytes is not None:
            return self.max_download_bytes or None  # 0 = no cap
        return None if self.local_mode else PUBLIC_MAX_DOWNLOAD

    @property
    def upload_limit(self) -> int:
        if self.max_upload_bytes:
            return self.max_upload_bytes
        return LOCAL_MAX_UPLOAD if self.local_mode else PUBLIC_MAX_UPLOAD

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(attempts=self.retry_attempts, base=self.retry_base, cap=self.retry_cap,
                           budget=self.retry_budget)

    @property
    def uses_webhook(self) -> bool:
        return bool(self.webhook_url)

    def with_webhook_secret(self) -> str:
        return self.webhook_secret or _secrets.token_urlsafe(32)

    @classmethod
    def from_settings(cls, settings: object, **overrides: object) -> "TelegramConfig":
        """Build from `bots.settings.Settings` (duck-typed so adapters never import bots/)."""
        token = getattr(settings, "telegram_bot_token", None)
        token = token.get_secret_value() if hasattr(token, "get_secret_value") else token
        if not token:
            raise ValueError("TELEGRAM_BOT_TOKEN is not set")
        secret = getattr(settings, "telegram_webhook_secret", None)
        secret = secret.get_secret_value() if hasattr(secret, "get_secret_value") else secret
        values: dict[str, object] = {
            "token": token,
            "api_url": getattr(settings, "telegram_api_url", cls.api_url),
            "file_url": getattr(settings, "telegram_file_url", cls.file_url),
            "local_mode": bool(getattr(settings, "telegram_local_mode", False)),
            "webhook_url": getattr(settings, "telegram_webhook_url", None) or None,
            "webhook_listen": getattr(settings, "telegram_webhook_listen", cls.webhook_listen),
            "webhook_port": int(getattr(settings, "telegram_webhook_port", cls.webhook_port)),
            "webhook_secret": secret or None,
            "max_download_bytes": getattr(settings, "telegram_max_download_bytes", None),
            "max_upload_bytes": getattr(settings, "telegram_max_upload_bytes", None),
            "album_wait": float(getattr(settings, "telegram_album_wait", cls.album_wait)),
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]
