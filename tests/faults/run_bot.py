"""`aiwm run`, exactly as `python -m bots.cli run` starts it, with one test tuning: the Nemo client's
render poll interval (10 s in production, not a setting yet) comes from AIWM_TEST_RENDER_POLL, so a
render case takes a second, not ten. Everything else is the product as shipped."""

from __future__ import annotations

import os
import sys

from core.nemo.client import NemoClient

NemoClient.__init__.__kwdefaults__["render_poll_interval"] = float(os.environ.get("AIWM_TEST_RENDER_POLL", "0.2"))

from bots.cli import main  # noqa: E402  (after the tuning: the client is built inside `run`)

if __name__ == "__main__":
    sys.exit(main(["run"]))
