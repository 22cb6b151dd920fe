import pytest

from core.wording import chat_words, drop_noise, for_chat


@pytest.mark.parametrize(
    "backend_text, expected_fragment",
    [
        ("Done! Click the Export button to download.", 'say "export"'),
        ("You can preview in the timeline.", 'say "status" to see the timeline'),
        ("Drag your file into the editor.", "send"),
        ("完成！点击导出按钮即可下载。", '发送"导出"'),
        ("可以在时间线中预览效果。", '发送"状态"查看时间线'),
    ],
)
def test_gui_words_become_chat_words(backend_text, expected_fragment):
    out = chat_words(backend_text)
    assert expected_fragment in out
    assert "click" not in out.lower() and "点击" not in out


def test_temporary_issue_tail_dropped_only_when_work_was_done():
    text = "Added lo-fi music.\nI encountered a temporary issue, please try again."
    assert drop_noise(text, turn_did_work=True) == "Added lo-fi music."
    assert "temporary issue" in drop_noise(text, turn_did_work=False)
    assert for_chat("Added music. Click Export.", turn_did_work=True) == 'Added music. say "export".'
