"""`aiwm chat`: talk to the bot in the terminal (or script it through a pipe)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from adapters.console.chat import ConsoleChat
from adapters.console.port import ConsoleSurface
from adapters.console.stdin import StdinLines
from bots.cmd_run import _stop_signal
from bots.logging_setup import setup_logging
from bots.runtime import running_core
from bots.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("out"), help="where finished videos are saved (default out/)")
    parser.add_argument("--language", choices=["en", "zh"], help="the bot's language (default: from $LANG)")


def run(args: argparse.Namespace) -> int:
    settings = Settings()
    # The chat is the output here; only warnings go to stderr unless a level was asked for.
    level = settings.aiwm_log_level if os.environ.get("AIWM_LOG_LEVEL") else "WARNING"
    setup_logging(level, settings.aiwm_log_format, settings.secrets())
    return asyncio.run(chat(settings, args.out, args.language, demo_when_empty=getattr(args, "demo_when_empty", False)))


async def chat(settings: Settings, out_dir: Path, language: str | None, *, demo_when_empty: bool = False) -> int:
    """SIGTERM/SIGINT as in `aiwm run`: stop reading, give running work the stop grace, exit 0."""
    stop = _stop_signal()  # first: a signal while starting up is a clean stop too
    surface = ConsoleSurface(out_dir)
    async with running_core(settings, [surface]) as core:
        await core.start()
        console = ConsoleChat(core, surface, language=language)
        lines, grace = StdinLines(sys.stdin.fileno()), settings.aiwm_stop_grace
        if sys.stdin.isatty():
            return await console.run_interactive(lines, core.drain, stop=stop, grace=grace)
        return await console.run_piped(lines, core.drain, demo_when_empty=demo_when_empty, stop=stop, grace=grace)
