"""`aiwm backend [--host] [--port] [--data-dir] [--test-mode [--request-log FILE]]`: run the local Nemo-compatible backend.

Settings come from the environment/.env (AIWM_BACKEND_HOST, AIWM_BACKEND_PORT, AIWM_DATA_DIR,
AIWM_SOUNDFONT); flags override them. Runs until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="address to listen on (default AIWM_BACKEND_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default AIWM_BACKEND_PORT; 0 = any free port)")
    parser.add_argument("--data-dir", type=Path, help="where sessions, uploads and renders live "
                                                      "(default AIWM_DATA_DIR/backend)")
    parser.add_argument("--test-mode", action="store_true", help="enable /_test/faults and /_test/requests")
    parser.add_argument("--request-log", type=Path, help="with --test-mode: also append every request to this "
                                                         "file (JSON lines), kept across restarts and kills")
    parser.add_argument("--public-url", help="base URL put in cdn_url/outputUrl links (default: the bound URL)")


def run(args: argparse.Namespace) -> int:
    from backend.config import BackendConfig
    from bots.logging_setup import setup_logging
    from bots.settings import Settings

    settings = Settings()
    setup_logging(settings.aiwm_log_level, settings.aiwm_log_format, settings.secrets())
    config = BackendConfig(
        data_dir=args.data_dir or settings.aiwm_data_dir / "backend",
        host=args.host or settings.aiwm_backend_host,
        port=args.port if args.port is not None else settings.aiwm_backend_port,
        soundfont=settings.aiwm_soundfont,
        test_mode=bool(args.test_mode),
        request_file=args.request_log,
        public_url=args.public_url,
    )
    from bots.limits import raise_open_file_limit

    raise_open_file_limit()  # one socket per open turn stream
    try:
        asyncio.run(_serve(config))
    except OSError as exc:
        print(f"The backend could not start: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


async def _serve(config) -> None:
    from backend.server import LocalBackend

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    async with LocalBackend(config) as backend:
        print(f"Local backend listening on {backend.url} (data in {config.data_dir})", flush=True)
        if config.test_mode:
            print("Test mode: fault switches at /_test/faults", flush=True)
        await stop.wait()
    print("Local backend stopped.", flush=True)
