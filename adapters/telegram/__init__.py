"""The Telegram surface (python-telegram-bot 22): see surface.py and README.md."""

from adapters.telegram.config import TelegramConfig
from adapters.telegram.reply import TelegramReplyPort
from adapters.telegram.surface import TelegramSurface, build_application

__all__ = ["TelegramConfig", "TelegramReplyPort", "TelegramSurface", "build_application"]
