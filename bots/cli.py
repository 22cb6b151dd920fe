"""The `aiwm` command. Each subcommand lives in its own module and is imported only when used."""

from __future__ import annotations

import argparse
import importlib
import sys

# subcommand -> module with `add_arguments(parser)` and `run(args) -> int`
SUBCOMMANDS = {
    "add-music": ("bots.cmd_add_music", "add fitting music to a video file"),
    "demo": ("bots.cmd_demo", "make a demo clip and add music to it"),
    "backend": ("bots.cmd_backend", "run the local Nemo-compatible backend"),
    "run": ("bots.cmd_run", "run the bot: Telegram/Discord when tokens are set, else the console chat"),
    "chat": ("bots.cmd_chat", "talk to the bot in this terminal (or through a pipe)"),
}


def build_parser() -> tuple[argparse.ArgumentParser, dict]:
    parser = argparse.ArgumentParser(prog="aiwm", description="AI With Music: videos back with music that fits.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = {}
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(sub_parser)
        modules[name] = module
    return parser, modules


def main(argv: list[str] | None = None) -> int:
    parser, modules = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        return int(modules[args.command].run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
