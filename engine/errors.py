"""Errors the engine raises. Their text is safe to show a user: one plain line, no paths of ours."""


class EngineError(Exception):
    """Something went wrong making the video; str(error) is a friendly one-line explanation."""


class InvalidMediaError(EngineError):
    """The input is not a usable video (wrong type, broken, empty, audio-only, absurd size...)."""


class ToolMissingError(EngineError):
    """A program or file the engine needs (ffmpeg, fluidsynth, a soundfont) is not installed."""


class FitError(EngineError):
    """The video cannot be made to fit the requested byte cap at any sensible quality."""
