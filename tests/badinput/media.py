"""Bad and odd files for the corpus, made on the spot (ffmpeg and plain bytes; nothing committed).

Every file is tiny: the point is what the bytes are, not how big they are.
"""

from __future__ import annotations

import io
import subprocess
import zipfile
from pathlib import Path

from tests.clips import make_clip

_FFMPEG = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y"]


def _ffmpeg(*args: str) -> None:
    subprocess.run([*_FFMPEG, *args], check=True, capture_output=True)


class BadMedia:
    """Builds each file once per test module, on first use."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def get(self, name: str) -> Path:
        path = self.folder / name
        if not path.exists():
            getattr(self, "_" + name.replace(".", "_").replace("-", "_"))(path)
        return path

    # --- real, healthy clips ------------------------------------------------------------------

    def _healthy_mp4(self, path: Path) -> None:
        make_clip(path, duration=1.0, size=(64, 48), fps=10)

    def _square_mp4(self, path: Path) -> None:  # a video note is a square clip
        make_clip(path, duration=1.0, size=(64, 64), fps=10)

    def _odd_35x27_mp4(self, path: Path) -> None:  # odd sides: no 4:2:0 encoder can halve them
        _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10:duration=1", "-vf", "scale=35:27",
                "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv444p", str(path))

    def _single_frame_mp4(self, path: Path) -> None:
        _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25", "-frames:v", "1",
                "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path))

    def _ten_minutes_mp4(self, path: Path) -> None:
        self._long(path, 600)

    def _ten_minutes_one_mp4(self, path: Path) -> None:
        self._long(path, 601)

    @staticmethod
    def _long(path: Path, seconds: int) -> None:
        # Real length, almost no bytes: 32x32 pixels, one flat picture a second.
        _ffmpeg("-f", "lavfi", "-i", f"color=c=0x3050a0:size=32x32:rate=1:duration={seconds}",
                "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path))

    # --- wrong things with a video name ---------------------------------------------------------

    def _png_mp4(self, path: Path) -> None:
        _ffmpeg("-f", "lavfi", "-i", "color=c=red:size=32x32", "-frames:v", "1", "-f", "image2",
                "-c:v", "png", str(path))

    def _text_mp4(self, path: Path) -> None:
        path.write_text("This is a shopping list, not a video.\nmilk\neggs\n")

    def _zip_mp4(self, path: Path) -> None:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("clip.mp4", self.get("healthy.mp4").read_bytes())
        path.write_bytes(buffer.getvalue())

    def _mp3_mp4(self, path: Path) -> None:
        _ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "libmp3lame", "-f", "mp3", str(path))

    def _audio_only_mp4(self, path: Path) -> None:
        _ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "aac", str(path))

    def _empty_mp4(self, path: Path) -> None:
        path.write_bytes(b"")

    def _cut_middle_mp4(self, path: Path) -> None:
        # moov first (faststart), then half the media data: the header promises what is missing.
        whole = self.folder / "faststart-source.mp4"
        make_clip(whole, duration=2.0, size=(64, 48), fps=10, extra_args=["-movflags", "+faststart"])
        data = whole.read_bytes()
        path.write_bytes(data[: len(data) // 2])

    def _no_moov_mp4(self, path: Path) -> None:
        # ffmpeg writes moov at the end by default: cutting the tail loses the index entirely.
        whole = self.folder / "moov-last-source.mp4"
        make_clip(whole, duration=2.0, size=(64, 48), fps=10)
        data = whole.read_bytes()
        path.write_bytes(data[: int(len(data) * 0.8)])

    def _tiny_2x2_mp4(self, path: Path) -> None:
        _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10:duration=1", "-vf", "scale=2:2",
                "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv444p", str(path))

    def _tiny_7x5_mp4(self, path: Path) -> None:
        _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10:duration=1", "-vf", "scale=7:5",
                "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv444p", str(path))

    # --- other media ----------------------------------------------------------------------------

    def _photo_jpg(self, path: Path) -> None:
        _ffmpeg("-f", "lavfi", "-i", "color=c=green:size=90x90", "-frames:v", "1", str(path))

    def _voice_ogg(self, path: Path) -> None:
        _ffmpeg("-f", "lavfi", "-i", "sine=frequency=300:duration=1", "-c:a", "libopus", str(path))

    def _song_mp3(self, path: Path) -> None:
        self._mp3_mp4(path)

    def _sticker_webp(self, path: Path) -> None:
        _ffmpeg("-f", "lavfi", "-i", "color=c=yellow:size=64x64", "-frames:v", "1", str(path))

    def _sticker_tgs(self, path: Path) -> None:
        import gzip
        path.write_bytes(gzip.compress(b'{"v":"5.5.2","fr":60,"ip":0,"op":60,"w":512,"h":512,"layers":[]}'))

    def _sticker_webm(self, path: Path) -> None:
        make_clip(path, duration=1.0, size=(64, 64), fps=10, audio=None)
