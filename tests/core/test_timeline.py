from core.timeline import diff, has_content, summary

DRAFT = {
    "d": 10000,
    "t": [
        {"tt": 0, "sg": [{"s": 0, "d": 10000, "m": {"name": "city timelapse"}}]},
        {"tt": 1, "sg": [{"s": 0, "d": 10000, "m": {"label": "Lo-fi", "volume": 0.35}}]},
        {"tt": 7, "sg": [{"s": 0, "d": 3000, "m": {"text": "Urban Dreams"}}]},
    ],
}


def test_summary_reads_like_the_product_card():
    assert summary(DRAFT) == [
        "1. Video: city timelapse (0–10s)",
        "2. BGM: Lo-fi (0–10s, 35%)",
        "3. Title: 'Urban Dreams' (0–3s)",
    ]


def test_summary_in_chinese():
    assert summary(DRAFT, "zh")[1] == "2. 背景音乐: Lo-fi (0–10s, 35%)"


def test_tolerates_odd_drafts():
    assert summary(None) == []
    assert summary({"t": [None, {"tt": 9, "sg": [{"s": "x", "m": None}]}]}) == ["1. Track: 9 (0–0s)"]
    assert not has_content({"t": [{"tt": 0, "sg": []}]})
    assert has_content(DRAFT)


def test_diff_names_what_changed():
    after = {
        "d": 10000,
        "t": [
            DRAFT["t"][0],
            {"tt": 1, "sg": [{"s": 0, "d": 10000, "m": {"label": "Cinematic", "volume": 0.2}}]},
            DRAFT["t"][2],
        ],
    }
    assert diff(DRAFT, after) == ["− BGM: Lo-fi (0–10s, 35%)", "+ BGM: Cinematic (0–10s, 20%)"]
    assert diff(DRAFT, DRAFT) == []


def test_diff_reports_a_trim():
    after = {"d": 5000, "t": [{"tt": 0, "sg": [{"s": 0, "d": 5000, "m": {"name": "city timelapse"}}]}]}
    lines = diff({"d": 10000, "t": [{"tt": 0, "sg": [{"s": 0, "d": 10000, "m": {"name": "city timelapse"}}]}]}, after)
    assert lines == ["− Video: city timelapse (0–10s)", "+ Video: city timelapse (0–5s)"]
