"""`aiwm run`: the bot. Telegram and/or Discord when their tokens are set (side by side in one
process), otherwise the console chat; the local backend runs in-process unless NEMO_API_URL is set.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from bots.limits import calm_garbage_collector, raise_open_file_limit
from bots.logging_setup import setup_logging
from bots.ops_server import OpsServer
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
    raise_open_file_limit()  # one socket per chat with an open turn: 1,000 chats pass 1024
    calm_garbage_collector()  # fewer, shorter GC pauses with many chats (bench/load.py)
    return asyncio.run(serve(settings))


async def serve(settings: Settings) -> int:
    stop = _stop_signal()  # first: a SIGTERM while starting up is a clean stop too
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
        # /healthz and /metrics (off unless AIWM_OPS_PORT is set); 503 until the surfaces run.
        ops = OpsServer.from_settings(settings, core)
        if ops is not None:
            await ops.start()
        try:
            await core.start()
            for surface in surfaces:
                await surface.start()
                log.info("%s bot started", surface.name)
            if ops is not None:
                ops.serving()
            try:
                await stop.wait()
                if ops is not None:
                    ops.stopping()
                await _wind_down(core, surfaces, settings.aiwm_stop_grace)
            finally:
                for surface in reversed(surfaces):
                    await surface.stop()
        finally:
            if ops is not None:
                await ops.stop()
    return 0


def _stop_signal() -> asyncio.Event:
    """Set on the first SIGTERM/SIGINT; a second one exits at once (state on disk is consistent)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        if stop.is_set():
            log.warning("second stop signal: exiting now")
            logging.shutdown()
            os._exit(128 + signum)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    return stop


async def _wind_down(core, surfaces: list, grace: float) -> None:
    """Stop taking messages, give running work `grace` seconds, then stop the core.

    Messages sent meanwhile stay unconfirmed at the platform and come again after the restart;
    renders still open stay in the store and resume; items cut off are in the work journal.
    """
    log.info("stopping: no new messages; running work has %.0f s to finish", grace)
    for surface in surfaces:
        await _stop_receiving(surface)
    if not await core.drain(grace):
        log.info("work still running after %.0f s is kept for the next start", grace)
    await core.stop()


async def _stop_receiving(surface) -> None:
    """Take no new work but keep the bot able to send (running work still answers). Telegram
    leaves later messages unconfirmed, so they come again after the restart; Discord answers new
    requests with "I'm restarting, try again in a minute" (interactions can't wait)."""
    try:
        await surface.stop_receiving()
    except Exception:  # one surface failing to stop intake must not keep the others taking work
        log.exception("%s: stopping intake failed", surface.name)
