"""Process limits the bot needs under load.

Each chat with an open turn holds one socket to the backend (and the in-process backend holds the
other end), so 1,000 chats need well over 1,000 file descriptors. Many systems start processes
with a soft limit of 1024; the hard limit is usually far higher and a process may raise its own
soft limit up to it. Under systemd set `LimitNOFILE=` in the unit to lift the hard limit too.
"""

from __future__ import annotations

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
