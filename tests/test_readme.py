"""The README's settings tables are generated from the models and must match them."""

from __future__ import annotations

from stacks.settings_doc import README, render_readme


def test_settings_tables_match_the_models() -> None:
    text = README.read_text()
    assert render_readme(text) == text, (
        "README settings tables are stale: run `python -m stacks.settings_doc`"
    )
