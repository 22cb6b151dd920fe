"""Process limits and tuning the bot needs under load.

Each chat with an open turn holds one socket to the backend (and the in-process backend holds the
other end), so 1,000 chats need well over 1,000 file descriptors. Many systems start processes
with a soft limit of 1024; the hard limit is usually far higher and a process may raise its own
soft limit up to it. Under systemd set `LimitNOFILE=` in the unit to lift the hard limit too.
"""

from __future__ import annotations

import gc
import logging
import resource

log = logging.getLogger(__name__)


def raise_open_file_limit() -> int:
    """Lift the soft RLIMIT_NOFILE to the hard limit; returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as error:  # e.g. a container that forbids it: keep going
            log.warning("could not raise the open-file limit from %s: %s", soft, type(error).__name__)
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# Young-generation collections run every 10,000 allocations instead of 700, and full ones rarely:
# with 1,000 open turns (bench/load.py) the default settings did 3 full collections in 30 s,
# 1.1 s of GC in all and pauses up to ~180 ms that stall every chat at once; tuned: no full
# collection, ~0.15 s in all, pauses ~30 ms. Cyclic garbage lives a little longer, that is all.
GC_THRESHOLDS = (10_000, 50, 50)


def calm_garbage_collector() -> None:
    """Call once after start-up imports: what they built is never garbage, so stop rescanning it."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
