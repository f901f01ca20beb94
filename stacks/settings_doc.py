"""Settings reference tables for the README, generated from the models (checked by a test).

python -m stacks.settings_doc          # rewrite README.md's tables in place
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from pydantic_core import PydanticUndefined

from stacks.settings import PROJECT, SETTINGS_BY_KIND

README = Path(__file__).resolve().parent.parent / "README.md"


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


def render_readme(text: str) -> str:
    for kind in SETTINGS_BY_KIND:
        start, end = f"<!-- settings:{kind} -->", f"<!-- /settings:{kind} -->"
        pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
        replacement = f"{start}\n{settings_table(kind)}\n{end}"
        text = pattern.sub(lambda _match: replacement, text)  # noqa: B023 - used at once, inside the loop
    return text


def main() -> int:
    README.write_text(render_readme(README.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
