"""How an exception becomes a job's error: time limits found anywhere in the chain (engines wrap
them), and one clean line for a message (no traceback text, no server paths)."""

from __future__ import annotations

import re
from collections.abc import Iterator

TIME_LIMIT_ERRORS = frozenset({"SoftTimeLimitExceeded", "TimeLimitExceeded"})

ERROR_MESSAGE_MAX = 200


def exception_chain(err: BaseException) -> Iterator[BaseException]:
    """``err`` and every exception behind it: what it was raised from (``__cause__``) or while
    handling (``__context__``, even when ``from None`` hides it from the traceback), and the members
    of an exception group; each once."""
    seen: set[int] = set()
    todo: list[BaseException] = [err]
    while todo:
        e = todo.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo += [x for x in (e.__cause__, e.__context__) if x is not None]
        if isinstance(e, BaseExceptionGroup):
            todo += list(e.exceptions)

def is_time_limit(err: BaseException) -> bool:
    """True when a time limit is anywhere in the chain: engines (RapidOCR's ONNXRuntimeError, say),
    storage clients and decoders wrap the SoftTimeLimitExceeded that Celery raised inside them."""
    return any(cls.__name__ in TIME_LIMIT_ERRORS for e in exception_chain(err) for cls in type(e).__mro__)


_TRACEBACK_HEAD = "Traceback (most recent call last)"
_TRACEBACK_LINE = re.compile(r"(Traceback \(most recent call last\)|File \"[^\"]*\", line \d+"
                             r"|During handling of the above exception|The above exception was the direct cause)")
_QUALIFIED_TYPE = re.compile(r"^(?:[A-Za-z_]\w*\.)+([A-Za-z_]\w*: )")  # module.path.Fail: -> Fail:
_SERVER_PATH = re.compile(r"(?<![\w/.:~-])/(?:[\w.@+-]+/)+([\w.@+-]+)")  # /srv/models/det.onnx -> det.onnx


def _message_line(text: str) -> str:
    """An exception message's first line that is not traceback text (RapidOCR's ONNXRuntimeError
    carries a whole traceback: its last line, the wrapped error, is what is left), absolute paths
    cut to their file name."""
    tb = _TRACEBACK_HEAD in text
    for raw in text.splitlines():
        line = raw.strip()
        if not line or _TRACEBACK_LINE.match(line) or (tb and raw[:1].isspace()):
            continue
        if tb:
            line = _QUALIFIED_TYPE.sub(r"\1", line)
        return _SERVER_PATH.sub(r"\1", line)
    return ""

def short_error(err: BaseException) -> str:
    """One line for a job's error, a page's or a log: `Type: message` of the exception, or of the
    first exception behind it that has a message when its own is empty or only a traceback. Never
    traceback text or server paths, whatever an engine wraps; bounded to ERROR_MESSAGE_MAX."""
    text = type(err).__name__
    for e in exception_chain(err):
        try:
            line = _message_line(str(e))
        except Exception:  # an exception whose __str__ fails says nothing more
            continue
        if line:
            text += f": {line}" if e is err else f": {type(e).__name__}: {line}"
            break
    return text if len(text) <= ERROR_MESSAGE_MAX else text[: ERROR_MESSAGE_MAX - 1] + "…"
