"""`aiwm run`: the bot. Telegram and/or Discord when their tokens are set (side by side in one
process), otherwise the console chat; the local backend runs in-process unless NEMO_API_URL is set.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from bots.logging_setup import setup_logging
from bots.runtime import running_core
from bots.settings import Settings

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("out"),
                        help="where the console chat saves finished videos (default out/)")


def run(args: argparse.Namespace) -> int:
    settings = Settings()
    if not (settings.telegram_bot_token or settings.discord_bot_token):
        from bots import cmd_chat

        print("No TELEGRAM_BOT_TOKEN or DISCORD_BOT_TOKEN set: starting the console chat.", file=sys.stderr)
        return cmd_chat.run(argparse.Namespace(out=args.out, language=None, demo_when_empty=True))
    setup_logging(settings.aiwm_log_level, settings.aiwm_log_format, settings.secrets())
    return asyncio.run(serve(settings))


async def serve(settings: Settings) -> int:
    async with running_core(settings) as core:
        surfaces = []
        if settings.telegram_bot_token:
            from adapters.telegram.surface import TelegramSurface

            surfaces.append(TelegramSurface.from_settings(settings, core))
        if settings.discord_bot_token:
            from adapters.discord.surface import DiscordSurface

            surfaces.append(DiscordSurface(settings, core))
        for surface in surfaces:
            core.add_surface(surface)
        await core.start()
        for surface in surfaces:
            await surface.start()
            log.info("%s bot started", surface.name)
        try:
            await _until_stopped()
        finally:
            for surface in reversed(surfaces):
                await surface.stop()
    return 0


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping")
