"""`aiwm run` and `aiwm backend` lift their open-file soft limit: 1,000 open turns need > 1024 sockets."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

_CHILD = """
import resource, socket, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))  # a stingy start, like many hosts' 1024
from bots.limits import raise_open_file_limit
now = raise_open_file_limit()
sockets = [socket.socket() for _ in range(400)]  # more than the stingy limit allowed
print(now, resource.getrlimit(resource.RLIMIT_NOFILE)[1], len(sockets))
"""


def test_the_soft_limit_is_raised_to_the_hard_limit_and_more_sockets_open() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 512:
        pytest.skip("this machine's hard open-file limit is too low to show the difference")
    done = subprocess.run([sys.executable, "-c", _CHILD], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    now, hard_after, opened = (int(x) for x in done.stdout.split())
    assert now == hard_after or hard_after == resource.RLIM_INFINITY
    assert opened == 400

