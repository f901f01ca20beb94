"""Argument types shared by the commands: numbers that are numbers, and the command deadline."""

from __future__ import annotations

import argparse
import math


def is_positive_seconds(value: float) -> bool:
    """Above 0 and finite: `nan` compares false with everything, so `value <= 0` lets it through."""
    return math.isfinite(value) and value > 0


def positive_seconds(text: str) -> float:
    """Seconds above 0: `nan`, `inf` and negatives are refused by argparse with one line."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"found {text!r}; accepted: seconds above 0") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"found {text!r}; accepted: seconds above 0")
    return value


def fraction(text: str) -> float:
    """A share in (0, 1]: `nan` compares false with everything, so it is refused by name."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"found {text!r}; accepted: a number above 0, at most 1") from None
    if not math.isfinite(value) or not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"found {text!r}; accepted: a number above 0, at most 1")
    return value


def add_deadline_argument(parser: argparse.ArgumentParser, default: float, what: str) -> None:
    parser.add_argument(
        "--deadline",
        type=positive_seconds,
        default=default,
        metavar="SECONDS",
        help=f"wall-clock limit for {what}, whatever the network does (default {default:g}); "
        "exit 2 when it runs out",
    )
