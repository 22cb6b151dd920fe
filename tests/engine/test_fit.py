"""Fitting an MP4 to a platform: under the byte cap, within the size caps, in the aspect ratio."""

from __future__ import annotations

import hashlib
from pathlib import Path

import av
import numpy as np
import pytest

from engine.errors import FitError
from engine.fit import fit
from engine.probe import probe
from tests.clips import make_clip

# A clip that is big for its length: near-lossless H.264, so any small cap forces a re-encode.
HEAVY = ["-c:v", "libx264", "-preset", "ultrafast", "-qp", "4", "-pix_fmt", "yuv420p"]


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def first_frame(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        return frame.to_ndarray(format="gray").astype(np.float64)


@pytest.mark.parametrize("cap", [150_000, 300_000])
def test_result_is_never_over_the_byte_cap(tmp_path, cap):
    clip = make_clip(tmp_path / "in.mp4", duration=3.0, size=(640, 360), video_codec=HEAVY)
    assert clip.stat().st_size > cap
    result = fit(clip, tmp_path / "out.mp4", max_bytes=cap)
    assert result.reencoded
    assert result.size_bytes == result.output.stat().st_size
    assert result.size_bytes <= cap
    out = probe(result.output)
    assert out.video_codec == "h264" and out.has_audio
    assert abs(out.duration - 3.0) < 0.1


def test_best_quality_uses_most_of_the_cap(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", duration=3.0, size=(640, 360), video_codec=HEAVY)
    cap = 400_000
    result = fit(clip, tmp_path / "out.mp4", max_bytes=cap)
    assert cap * 0.5 <= result.size_bytes <= cap  # not needlessly starved


def test_a_video_that_already_fits_is_left_untouched(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", duration=1.0, extra_args=["-movflags", "+faststart"])
    result = fit(clip, tmp_path / "out.mp4", max_bytes=50_000_000, max_width=1920, max_height=1080)
    assert not result.reencoded
    assert md5(result.output) == md5(clip)
    assert (result.width, result.height) == (320, 240)


def test_size_caps_shrink_the_picture_and_keep_its_shape(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", duration=1.0, size=(640, 360))
    result = fit(clip, tmp_path / "out.mp4", max_bytes=None, max_width=320, max_height=320)
    out = probe(result.output)
    assert result.reencoded
    assert (out.display_width, out.display_height) == (result.width, result.height) == (320, 180)


def test_portrait_stays_portrait(tmp_path):
    # Stored landscape, shown portrait (rotation 90), as phones record.
    clip = make_clip(tmp_path / "in.mp4", duration=1.0, size=(640, 360), rotation=90)
    result = fit(clip, tmp_path / "out.mp4", max_bytes=None, max_width=320, max_height=180)
    out = probe(result.output)
    assert out.display_height > out.display_width
    assert (out.display_width, out.display_height) == (180, 320)


@pytest.mark.parametrize("framing", ["letterbox", "crop"])
def test_nine_by_sixteen_framing(tmp_path, framing):
    clip = make_clip(tmp_path / "in.mp4", duration=1.0, size=(320, 240))
    result = fit(clip, tmp_path / "out.mp4", max_bytes=None, aspect=(9, 16), framing=framing)
    out = probe(result.output)
    assert out.display_width / out.display_height == pytest.approx(9 / 16, abs=0.01)
    top_band = first_frame(result.output)[:20]
    if framing == "letterbox":
        assert top_band.mean() < 20  # black bars above the picture
    else:
        assert top_band.mean() > 40  # picture to the edge


def test_impossible_cap_is_a_friendly_fit_error(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", duration=4.0, size=(640, 360), video_codec=HEAVY)
    with pytest.raises(FitError) as caught:
        fit(clip, tmp_path / "out.mp4", max_bytes=20_000)
    message = str(caught.value)
    assert "MB" in message and "\n" not in message and "in.mp4" not in message
    assert not (tmp_path / "out.mp4").exists()


def test_a_fitting_mov_is_remuxed_into_a_streamable_mp4_without_reencoding(tmp_path):
    clip = make_clip(tmp_path / "in.mov", duration=1.0)
    result = fit(clip, tmp_path / "out.mp4", max_bytes=10_000_000)
    assert not result.reencoded
    out = probe(result.output)
    assert "mp4" in out.container and out.video_codec == "h264" and out.has_audio
    assert _packets(result.output) == _packets(clip)  # the picture is the very same bytes
    assert _atoms(result.output).index("moov") < _atoms(result.output).index("mdat")


def test_an_mp4_with_its_index_at_the_end_gets_it_moved_to_the_front(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", duration=1.0)  # ffmpeg writes moov last by default
    assert _atoms(clip).index("moov") > _atoms(clip).index("mdat")
    result = fit(clip, tmp_path / "out.mp4", max_bytes=None)
    assert not result.reencoded
    assert _atoms(result.output).index("moov") < _atoms(result.output).index("mdat")


def _packets(path: Path) -> str:
    digest = hashlib.md5()
    with av.open(str(path)) as container:
        for packet in container.demux(container.streams.video[0]):
            if packet.size:
                digest.update(bytes(packet))
    return digest.hexdigest()


def _atoms(path: Path) -> list[str]:
    names, data, at = [], path.read_bytes(), 0
    while at + 8 <= len(data):
        size = int.from_bytes(data[at:at + 4], "big")
        names.append(data[at + 4:at + 8].decode("latin-1"))
        if size == 1:
            size = int.from_bytes(data[at + 8:at + 16], "big")
        at += max(size, 8)
    return names
