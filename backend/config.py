"""Settings of the local Nemo-compatible backend."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class BackendConfig:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 0  # 0 = any free port
    upload_max_bytes: int = 2 * 1024**3
    soundfont: Path | None = None  # None = the engine's default soundfont
    test_mode: bool = False  # enables /_test/faults and /_test/requests
    request_file: Path | None = None  # test mode: also append each logged request here (JSON lines)
    public_url: str | None = None  # base of cdn_url / outputUrl links; None = the bound URL
    web_url: str = "https://nemovideo.com"  # where registration links point
    render_workers: int = 1
    start_credits: int = 100
    token_days: int = 7
    music_change_cost: int = 1
    export_seconds_per_credit: float = 30.0  # export cost = ceil(duration / this), at least 1
    business_error_status: int = 200  # HTTP status sent with envelope codes 1001/1002/2001/4001/4002
    heartbeat_interval: float = 5.0  # seconds between heartbeats while a turn works
    url_fetch_timeout: float = 120.0

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        if self.soundfont is not None:
            self.soundfont = Path(self.soundfont)
