from __future__ import annotations

from pathlib import Path

import pytest
import pytest_asyncio

from tests.badinput.harness import start_product, stop_product
from tests.badinput.media import BadMedia


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> BadMedia:
    return BadMedia(tmp_path_factory.mktemp("badmedia"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def product(tmp_path_factory):
    """One product (fake Telegram, bot, local backend) shared by a test module."""
    p = await start_product(tmp_path_factory.mktemp("product"))
    yield p
    await stop_product(p)


def files_under(root: Path, skip: tuple[str, ...]) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() and not any(p.relative_to(root).parts[0] == s for s in skip)}
