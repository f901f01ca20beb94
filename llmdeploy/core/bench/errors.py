"""The one error bench's pure code raises on bad input: one line, the option, the value, what is accepted."""

from __future__ import annotations


class BenchInputError(ValueError):
    """`str(error)` is the whole message: `--slo: found 'x'; accepted: ...`."""
