import pytest

from core.router import Intent, route


@pytest.mark.parametrize(
    "text, has_media, expected, rest",
    [
        ("/start", False, Intent.START, ""),
        ("/help", False, Intent.HELP, ""),
        ("/music calm piano", True, Intent.MUSIC, "calm piano"),
        ("/music@AiWithMusicBot lo-fi", False, Intent.MUSIC, "lo-fi"),
        ("/export", False, Intent.EXPORT, ""),
        ("/export@SomeBot", False, Intent.EXPORT, ""),
        ("/status", False, Intent.STATUS, ""),
        ("/credits", False, Intent.CREDITS, ""),
        ("/cancel", False, Intent.CANCEL, ""),
        ("/new", False, Intent.NEW, ""),
        ("/frobnicate", False, Intent.HELP, ""),
        ("export", False, Intent.EXPORT, ""),
        ("Export please", False, Intent.EXPORT, ""),
        ("download", False, Intent.EXPORT, ""),
        ("send me the video", False, Intent.EXPORT, ""),
        ("导出", False, Intent.EXPORT, ""),
        ("下载视频", False, Intent.EXPORT, ""),
        ("credits", False, Intent.CREDITS, ""),
        ("balance?", False, Intent.CREDITS, ""),
        ("积分", False, Intent.CREDITS, ""),
        ("余额", False, Intent.CREDITS, ""),
        ("status", False, Intent.STATUS, ""),
        ("show tracks", False, Intent.STATUS, ""),
        ("状态", False, Intent.STATUS, ""),
        ("cancel", False, Intent.CANCEL, ""),
        ("取消", False, Intent.CANCEL, ""),
        ("upload", False, Intent.UPLOAD, ""),
        ("上传", False, Intent.UPLOAD, ""),
        ("help", False, Intent.HELP, ""),
        ("帮助", False, Intent.HELP, ""),
        ("", True, Intent.MUSIC, ""),
        ("make it cinematic", True, Intent.MUSIC, "make it cinematic"),
        ("lo-fi instead", False, Intent.TURN, "lo-fi instead"),
        ("music at 20%", False, Intent.TURN, "music at 20%"),
        ("make the export brighter", False, Intent.TURN, "make the export brighter"),
        ("换成低保真", False, Intent.TURN, "换成低保真"),
        ("", False, Intent.IGNORE, ""),
        ("   ", False, Intent.IGNORE, ""),
    ],
)
def test_route(text, has_media, expected, rest):
    routed = route(text, has_media=has_media)
    assert routed.intent is expected
    assert routed.text == rest


def test_platform_parsed_command_wins_over_text():
    assert route("calm", has_media=True, command="music").intent is Intent.MUSIC
    assert route("", has_media=False, command="export").intent is Intent.EXPORT
    assert route("", has_media=False, command="/status").intent is Intent.STATUS
