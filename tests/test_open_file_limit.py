"""`aiwm run` and `aiwm backend` set their process up for many chats: open files and GC."""

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



_GC_CHILD = """
import gc
import json  # start-up imports, as `aiwm run` has them
from bots.limits import GC_THRESHOLDS, calm_garbage_collector
before = gc.get_freeze_count()
calm_garbage_collector()
print(before, gc.get_freeze_count(), *gc.get_threshold(), *GC_THRESHOLDS)
"""


def test_start_up_objects_are_frozen_and_collections_come_less_often() -> None:
    done = subprocess.run([sys.executable, "-c", _GC_CHILD], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    before, frozen, *rest = (int(x) for x in done.stdout.split())
    threshold, wanted = rest[:3], rest[3:]
    assert before == 0 and frozen > 1000  # the imported modules' objects are no longer rescanned
    assert threshold == wanted and threshold[0] > 700  # 700 is Python's default
