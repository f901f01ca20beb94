"""Wall-clock deadlines for network work: a command ends when its deadline says, whatever the peer does.

Socket timeouts (botocore's `read_timeout`, httpx's, urllib's) bound each read,
not the whole answer: a server that sends one byte every two seconds, or that
accepts and lets retries pile up, keeps a command alive for ever. A `deadline`
bounds the wall time of a block instead, with `SIGALRM`, so it interrupts a
blocked read as Ctrl-C would.

`DeadlineExceeded` derives from `BaseException` on purpose: botocore's retry
loop and the openai client catch `Exception` and wrap or retry it, which would
turn the deadline into one more failed attempt. Deadlines nest; the alarm is
armed for the earliest. Off the main thread (where signals cannot be used) a
deadline does nothing and the socket timeouts are all there is.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType


@dataclass(eq=False)
class Deadline:
    seconds: float
    what: str
    remedy: str
    expires_at: float = field(default=0.0)


class DeadlineExceeded(BaseException):
    """The wall time of a `deadline` block ran out; `report()` is what a command prints."""

    def __init__(self, deadline: Deadline) -> None:
        super().__init__(f"{deadline.what}: no end within {deadline.seconds:g} s")
        self.deadline = deadline

    def report(self) -> str:
        deadline = self.deadline
        line = f"{deadline.what}: stopped after {deadline.seconds:g} s without an end"
        return line + (f"\nwhat to do: {deadline.remedy}" if deadline.remedy else "")


_active: list[Deadline] = []


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    now = time.monotonic()
    expired = [deadline for deadline in _active if deadline.expires_at <= now + 0.005]
    if not expired:
        _arm()
        return
    raise DeadlineExceeded(min(expired, key=lambda deadline: deadline.expires_at))


def _arm() -> None:
    if not _active:
        signal.setitimer(signal.ITIMER_REAL, 0)
        return
    earliest = min(deadline.expires_at for deadline in _active)
    signal.setitimer(signal.ITIMER_REAL, max(earliest - time.monotonic(), 0.001))


def _signals_usable() -> bool:
    return threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")


@contextmanager
def deadline(seconds: float, what: str, remedy: str = "") -> Iterator[Deadline]:
    """Raise `DeadlineExceeded` in this block once `seconds` of wall time have passed."""
    entry = Deadline(seconds, what, remedy, time.monotonic() + seconds)
    if not _signals_usable():
        yield entry
        return
    previous = signal.signal(signal.SIGALRM, _on_alarm) if not _active else None
    _active.append(entry)
    _arm()
    try:
        yield entry
    finally:
        _active.remove(entry)
        _arm()
        if previous is not None:
            signal.signal(signal.SIGALRM, previous)
