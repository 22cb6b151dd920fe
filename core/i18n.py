"""Everything the bot says, in English and Chinese.

`say(key, lang, **values)` picks the user's language ("zh" for any Chinese code, else English).
"""

from __future__ import annotations

import re

_CJK = re.compile(r"[\u4e00-\u9fff]")

MESSAGES: dict[str, dict[str, str]] = {
    "welcome": {
        "en": "🎵 Hi! Send me a video clip and I'll send it back with music that fits its mood.\n"
              "Then refine it in plain words: \"lo-fi instead\", \"music at 20%\", \"add title 'Summer'\", "
              "and say \"export\" to get the new version. /help lists everything.",
        "zh": "🎵 你好！发给我一段视频，我会配上符合氛围的音乐再发回给你。\n"
              "之后可以直接说：\"换成低保真\"、\"音乐音量 20%\"、\"添加标题'夏天'\"，说\"导出\"即可拿到新版本。/help 查看全部功能。",
    },
    "help": {
        "en": "How to use me:\n"
              "• Send a video (MP4, MOV, WebM, MKV, AVI). A caption is the instruction, e.g. \"calm piano\".\n"
              "• Refine: \"make it lo-fi\", \"faster\", \"music at 20%\", \"remove music\", "
              "\"add title 'Urban Dreams' for 3 seconds\", \"trim to 10 seconds\".\n"
              "• /export — render and send the video\n"
              "• /status — what is in the video now\n"
              "• /credits — your balance\n"
              "• /cancel — stop the current work\n"
              "• /new — start over with a new session",
        "zh": "使用方法：\n"
              "• 发送视频（MP4、MOV、WebM、MKV、AVI），附言就是指令，例如\"舒缓的钢琴\"。\n"
              "• 调整：\"换成低保真\"、\"快一点\"、\"音乐音量 20%\"、\"去掉音乐\"、\"添加标题'城市之梦' 3秒\"、\"剪到10秒\"。\n"
              "• /export — 导出并发送视频\n"
              "• /status — 查看当前内容\n"
              "• /credits — 查看积分\n"
              "• /cancel — 取消当前任务\n"
              "• /new — 重新开始",
    },
    "need_clip": {
        "en": "Send me a video clip first (MP4, MOV, WebM, MKV or AVI), then I can add music to it.",
        "zh": "请先发送一段视频（MP4、MOV、WebM、MKV 或 AVI），我再为它配乐。",
    },
    "not_video": {
        "en": "That {kind} isn't a video I can use. Please send a video clip (MP4, MOV, WebM, MKV or AVI).",
        "zh": "这个{kind}不是我能处理的视频。请发送视频文件（MP4、MOV、WebM、MKV 或 AVI）。",
    },
    "too_big_to_fetch": {
        "en": "That clip is {size}, and this chat platform only lets bots download up to {limit}. "
              "Please send a shorter or smaller clip (an operator can lift this with a self-hosted Bot API server).",
        "zh": "这个视频有 {size}，而该平台只允许机器人下载 {limit} 以内的文件。请发送更短或更小的视频"
              "（管理员可通过自建 Bot API 服务器解除限制）。",
    },
    "too_big_for_bot": {
        "en": "That clip is {size}; the largest clip this bot accepts is {limit}. Please send a smaller one.",
        "zh": "这个视频有 {size}，本机器人最多接受 {limit}。请发送更小的视频。",
    },
    "too_long_for_bot": {
        "en": "That clip is {duration} long; the longest this bot accepts is {limit}. Please trim it first.",
        "zh": "这个视频时长 {duration}，本机器人最多接受 {limit}。请先剪短。",
    },
    "too_short_for_bot": {
        "en": "That clip is only {duration} long; I need at least {limit} of video to add music. Please send a longer one.",
        "zh": "这个视频只有 {duration}，至少需要 {limit} 才能配乐。请发送更长的视频。",
    },
    "bad_video": {
        "en": "I couldn't read that video: {reason} Please try another file.",
        "zh": "无法读取这个视频：{reason} 请换一个文件试试。",
    },
    "fetch_failed": {
        "en": "I couldn't download that clip: {reason}",
        "zh": "无法下载这个视频：{reason}",
    },
    # Clip links (core/links.py): link_scheme_refused and link_too_many are whole lines, the
    # others are the {reason} of fetch_failed.
    "link_scheme_refused": {
        "en": "I can only fetch clips from public http(s) links. Please send a https:// link to the video file, or attach the clip.",
        "zh": "我只能从公开的 http(s) 链接获取视频。请发送视频文件的 https:// 链接，或直接发送视频。",
    },
    "link_too_many": {
        "en": "That's a lot of links — please send at most {count} clip links in one message.",
        "zh": "链接太多了——每条消息最多发送 {count} 个视频链接。",
    },
    "link_private": {
        "en": "that link points to a private or local address. I only fetch clips from public http(s) links.",
        "zh": "这个链接指向私有或本地地址。我只从公开的 http(s) 链接获取视频。",
    },
    "link_no_such_host": {
        "en": "there is no website at that address. Please check the link.",
        "zh": "找不到这个网站，请检查链接。",
    },
    "link_unreachable": {
        "en": "the website didn't answer. Please check the link or try again later.",
        "zh": "网站没有响应。请检查链接或稍后再试。",
    },
    "link_timeout": {
        "en": "the website took too long to send it. Please try again later or attach the clip.",
        "zh": "网站传输太慢，已超时。请稍后再试，或直接发送视频。",
    },
    "link_http_error": {
        "en": "the website answered with error {status}. Please check the link.",
        "zh": "网站返回错误 {status}。请检查链接。",
    },
    "link_redirect_loop": {
        "en": "the link redirects too many times.",
        "zh": "这个链接重定向次数过多。",
    },
    "link_bad": {
        "en": "that doesn't look like a valid link.",
        "zh": "这个链接格式不正确。",
    },
    "link_web_page": {
        "en": "that link opens a web page, not a video file. Please send a direct link to the video file.",
        "zh": "这个链接打开的是网页，不是视频文件。请发送视频文件的直接链接。",
    },
    "link_too_big": {
        "en": "the file is bigger than the {limit} I can fetch from a link.",
        "zh": "文件超过了链接下载上限 {limit}。",
    },
    "link_empty": {
        "en": "the link gave me an empty file.",
        "zh": "链接返回的是空文件。",
    },
    "queued": {
        "en": "⏳ Got it — I'll start on this as soon as your previous request is done.",
        "zh": "⏳ 收到——等上一个请求完成后马上处理。",
    },
    "stage_download": {"en": "📥 Getting your clip", "zh": "📥 正在获取视频"},
    "stage_upload": {"en": "📤 Uploading your clip", "zh": "📤 正在上传视频"},
    "stage_thinking": {"en": "🎼 Working on it", "zh": "🎼 正在处理"},
    "stage_render": {"en": "🎬 Rendering the video", "zh": "🎬 正在渲染视频"},
    "stage_download_result": {"en": "📦 Fetching the result", "zh": "📦 正在获取成品"},
    "stage_fit": {"en": "📐 Making it fit this chat", "zh": "📐 正在压缩以适应聊天平台"},
    "stage_send": {"en": "📨 Sending the video", "zh": "📨 正在发送视频"},
    "still_working": {"en": "⏳ Still working…", "zh": "⏳ 仍在处理中…"},
    "tool_generate_music": {"en": "composing music", "zh": "正在作曲"},
    "tool_edit_multitrack": {"en": "editing the tracks", "zh": "正在编辑轨道"},
    "tool_trim_video": {"en": "trimming the video", "zh": "正在剪辑视频"},
    "tool_add_title": {"en": "adding the title", "zh": "正在添加标题"},
    "tool_analyze": {"en": "watching your video", "zh": "正在分析视频"},
    "tool_generic": {"en": "editing", "zh": "正在编辑"},
    "done_caption": {
        "en": "🎵 Here it is: {style}, {tempo} BPM. Say things like \"lo-fi instead\" or \"music at 20%\" to change it.",
        "zh": "🎵 完成：{style}，{tempo} BPM。可以说\"换成低保真\"或\"音乐音量 20%\"继续调整。",
    },
    "done_caption_plain": {
        "en": "🎵 Here is your video. Say things like \"lo-fi instead\" or \"music at 20%\" to change it.",
        "zh": "🎵 视频完成。可以说\"换成低保真\"或\"音乐音量 20%\"继续调整。",
    },
    "too_big_to_send": {
        "en": "The finished video is {size}, over this chat's {limit} limit even after compressing. "
              "Download it here: {url}",
        "zh": "成品视频有 {size}，压缩后仍超过本聊天 {limit} 的限制。请从这里下载：{url}",
    },
    "too_big_no_link": {
        "en": "The finished video is {size}, over this chat's {limit} limit even after compressing. "
              "Try trimming it (\"trim to 30 seconds\") and export again.",
        "zh": "成品视频有 {size}，压缩后仍超过本聊天 {limit} 的限制。请先剪短（\"剪到30秒\"）再导出。",
    },
    "nothing_to_export": {
        "en": "There's nothing to export yet — send me a video clip first.",
        "zh": "还没有可导出的内容——请先发送一段视频。",
    },
    "cancelled": {"en": "🛑 Cancelled.", "zh": "🛑 已取消。"},
    "nothing_to_cancel": {"en": "Nothing is running right now.", "zh": "当前没有进行中的任务。"},
    "new_session": {
        "en": "🆕 Fresh start. Send me a video clip.",
        "zh": "🆕 已重新开始，请发送视频。",
    },
    "credits": {
        "en": "💳 Credits: {available} available{frozen_part}.",
        "zh": "💳 积分：可用 {available}{frozen_part}。",
    },
    "credits_frozen": {"en": ", {frozen} reserved for work in progress", "zh": "，进行中任务占用 {frozen}"},
    "status_empty": {
        "en": "Nothing in this session yet — send me a video clip.",
        "zh": "当前会话还没有内容——请发送视频。",
    },
    "status_header": {"en": "Current timeline:", "zh": "当前时间线："},
    "changes_header": {"en": "Done. What changed:", "zh": "已完成，改动如下："},
    "no_changes": {
        "en": "Done, but nothing in the video changed. Try saying it another way, or /help for ideas.",
        "zh": "已完成，但视频没有变化。换个说法试试，或发送 /help 查看示例。",
    },
    "timeout": {
        "en": "This took too long, so I stopped it. Nothing was lost — try again, or /export what you have.",
        "zh": "处理时间过长，已停止。内容没有丢失——请重试，或 /export 导出现有内容。",
    },
    "backend_down": {
        "en": "The editing service isn't answering right now. Your clip is kept — please try again in a minute.",
        "zh": "编辑服务暂时无响应。你的视频已保留——请稍后再试。",
    },
    "out_of_credits": {
        "en": "You're out of credits. Register to get more: {url}",
        "zh": "积分已用完。注册即可获得更多：{url}",
    },
    "out_of_credits_plain": {
        "en": "You're out of credits. Please top up your account to continue.",
        "zh": "积分已用完，请充值后继续。",
    },
    "unsupported_type": {
        "en": "That file type isn't supported. I accept videos (MP4, MOV, AVI, WebM, MKV).",
        "zh": "不支持该文件类型。支持的视频格式：MP4、MOV、AVI、WebM、MKV。",
    },
    "file_too_large": {
        "en": "That file is too large for the editing service. Please send a shorter or smaller clip.",
        "zh": "文件太大，编辑服务无法处理。请发送更短或更小的视频。",
    },
    "rate_limited": {
        "en": "The editing service is busy right now. Please try again in a minute.",
        "zh": "编辑服务繁忙，请稍后再试。",
    },
    "render_failed": {
        "en": "Rendering failed: {reason} Nothing was lost — say \"export\" to try again.",
        "zh": "渲染失败：{reason} 内容没有丢失——说\"导出\"重试。",
    },
    "auth_rejected": {
        "en": "The editing service didn't accept this bot's credentials. The bot's operator needs to renew them — I've logged it.",
        "zh": "编辑服务不接受本机器人的凭证。需要机器人的管理员更新凭证——我已记录此问题。",
    },
    "agent_error": {
        "en": "The editor couldn't do that ({reason}). Try rephrasing, or /help for ideas.",
        "zh": "编辑器无法完成该操作（{reason}）。换个说法试试，或发送 /help 查看示例。",
    },
    "generic_error": {
        "en": "Something went wrong on my side. Nothing was lost — please try again.",
        "zh": "出了点问题。内容没有丢失——请重试。",
    },
    "platform_gave_up": {
        "en": "I couldn't get the video into this chat: the chat service kept refusing for a few minutes. "
              "Send /export to try again.",
        "zh": "视频没能发到这个聊天：聊天平台几分钟内一直拒绝接收。请发送 /export 再试一次。",
    },
    "busy_refused": {
        "en": "I'm handling a lot of videos right now. Please try again in a few minutes.",
        "zh": "当前处理的视频较多，请几分钟后再试。",
    },
    "not_allowed": {
        "en": "Sorry, this bot is private.",
        "zh": "抱歉，这是一个私有机器人。",
    },
    "slow_down": {
        "en": "You're sending requests faster than I can take them. Please wait a moment.",
        "zh": "请求太频繁了，请稍等片刻。",
    },
    # Operator restrictions (core/policy.py): one line each, never revealing who is allowed.
    "policy_not_allowed": {
        "en": "Sorry, this bot is private to its community. Ask the person who runs it to add you.",
        "zh": "抱歉，这个机器人仅供其社区成员使用。如需使用，请联系机器人的管理员。",
    },
    "policy_not_allowed_contact": {
        "en": "Sorry, this bot is private to its community. Ask {contact} to add you.",
        "zh": "抱歉，这个机器人仅供其社区成员使用。如需使用，请联系 {contact}。",
    },
    "policy_slow_down": {
        "en": "You're sending a lot quickly — give me a minute. Try again in {seconds} s.",
        "zh": "你发送得太快了——请稍等，{seconds} 秒后再试。",
    },
    "policy_user_jobs": {
        "en": "You already have {count} videos in the works; I'll take more when one is done.",
        "zh": "你已有 {count} 个视频正在处理中，等其中一个完成后我再接收新的。",
    },
    "resend_after_restart": {
        "en": "I restarted while sending your video, so it may not have arrived. If it didn't, send /export.",
        "zh": "发送视频时我重启了，视频可能没有送达。如果没收到，请发送 /export。",
    },
    "stream_cut": {
        "en": "The connection to the editor broke before it answered, and nothing changed. Please say that again.",
        "zh": "编辑器回答前连接中断，内容没有变化。请再说一遍。",
    },
    "backend_waiting": {
        "en": "The editing service can't be reached right now. I'll keep trying for a few minutes — no need to send anything again.",
        "zh": "暂时连不上编辑服务。我会在几分钟内继续重试——无需重新发送。",
    },
    "backend_gave_up": {
        "en": "I kept trying, but the editing service is still unreachable, so I stopped. Please send your clip or message again later.",
        "zh": "我一直在重试，但编辑服务仍无法连接，所以先停下了。请稍后重新发送你的视频或消息。",
    },
    "upload_lost": {
        "en": "The editing service is back, but your clip was lost when the connection broke. Please send it again.",
        "zh": "编辑服务已恢复，但连接中断时你的视频丢失了。请重新发送。",
    },
    "turn_outcome_unknown": {
        "en": "The connection to the editor broke while it was working, so your change may or may not have been made. Send /status to check once the service is back.",
        "zh": "编辑器处理时连接中断，你的修改可能已生效，也可能没有。服务恢复后请发送 /status 查看。",
    },
    "resend_clip": {
        "en": "I restarted while working on your clip and couldn't finish it. Please send it again.",
        "zh": "处理你的视频时我重启了，未能完成。请重新发送。",
    },
    "restart_lost_clip": {
        "en": "I restarted while working on your clip, so it was not finished. Please send it again.",
        "zh": "处理你的视频时我重启了，没能完成。请重新发送这段视频。",
    },
    "restart_lost_message": {
        "en": "I restarted before I could act on your last message, and nothing changed. Please send that message again.",
        "zh": "我在处理你的上一条消息前重启了，内容没有变化。请再发送一次那条消息。",
    },
    "restart_lost_export": {
        "en": "I restarted before your video was rendered. Please send /export again.",
        "zh": "视频渲染完成前我重启了。请再发送一次 /export。",
    },
    "restarting_try_later": {
        "en": "I'm restarting right now, so I can't take this. Please try again in a minute.",
        "zh": "我正在重启，暂时无法处理。请一分钟后再试。",
    },
    "album_merged": {
        "en": "Got {count} clips — I'll use them together.",
        "zh": "收到 {count} 段视频——将一起处理。",
    },
}

KIND_NAMES: dict[str, dict[str, str]] = {
    "photo": {"en": "photo", "zh": "图片"},
    "sticker": {"en": "sticker", "zh": "贴纸"},
    "voice": {"en": "voice note", "zh": "语音"},
    "audio": {"en": "audio file", "zh": "音频"},
    "document": {"en": "file", "zh": "文件"},
    "url": {"en": "link", "zh": "链接"},
}


def lang_of(language: str | None, text: str | None = None) -> str:
    """"zh" for Chinese users (by platform language, else by the text), otherwise "en"."""
    if language:
        return "zh" if language.lower().startswith("zh") else "en"
    if text and _CJK.search(text):
        return "zh"
    return "en"


def say(key: str, lang: str, **values: object) -> str:
    entry = MESSAGES[key]
    template = entry.get(lang) or entry["en"]
    return template.format(**values) if values else template


def kind_name(kind: str, lang: str) -> str:
    names = KIND_NAMES.get(kind, KIND_NAMES["document"])
    return names.get(lang, names["en"])


def human_size(size: int) -> str:
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}".replace(".0 ", " ")
    return f"{size} bytes"


def human_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    minutes, secs = divmod(seconds, 60)
    return f"{minutes}:{secs:02d}" if minutes else f"{secs}s"
