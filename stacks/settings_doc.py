"""Settings reference tables in docs/settings.md, generated from the models (checked by a test).

python -m stacks.settings_doc          # rewrite docs/settings.md's tables in place
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from pydantic_core import PydanticUndefined

from stacks.settings import PROJECT, SETTINGS_BY_KIND

SETTINGS_DOC = Path(__file__).resolve().parent.parent / "docs" / "settings.md"


def settings_table(kind: str) -> str:
    model = SETTINGS_BY_KIND[kind]
    rows = ["| Key | Default | Description |", "| --- | --- | --- |"]
    for name, info in model.model_fields.items():
        if info.is_required():
            default = "**required**"
        elif info.default_factory is not None:
            default = f"`{info.default_factory()!r}`"  # type: ignore[call-arg]
        elif info.default is PydanticUndefined or info.default is None:
            default = "none"
        else:
            default = f"`{info.default}`"
        description = (info.description or "").replace("|", "\\|")
        rows.append(f"| `{PROJECT}:{info.alias or name}` | {default} | {description} |")
    return "\n".join(rows)


class MissingTable(ValueError):
    """The document has no place for a kind's table: a kind would go undocumented."""


def render_settings_doc(text: str) -> str:
    """`text` with each kind's table between its markers; every kind must have a pair."""
    for kind in SETTINGS_BY_KIND:
        start, end = f"<!-- settings:{kind} -->", f"<!-- /settings:{kind} -->"
        pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
        if len(pattern.findall(text)) != 1:
            raise MissingTable(
                f"{SETTINGS_DOC.name}: found no single {start} ... {end} pair; accepted: one per kind"
            )
        replacement = f"{start}\n{settings_table(kind)}\n{end}"
        text = pattern.sub(lambda _match: replacement, text)  # noqa: B023 - used at once, inside the loop
    return text


def main() -> int:
    SETTINGS_DOC.write_text(render_settings_doc(SETTINGS_DOC.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
