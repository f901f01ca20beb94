"""docs/settings.md's tables are generated from the models and must match them."""

from __future__ import annotations

import pytest

from stacks.settings import SETTINGS_BY_KIND
from stacks.settings_doc import SETTINGS_DOC, MissingTable, render_settings_doc


def test_settings_tables_match_the_models() -> None:
    text = SETTINGS_DOC.read_text()
    assert render_settings_doc(text) == text, (
        "docs/settings.md's settings tables are stale: run `python -m stacks.settings_doc`"
    )
    for kind in SETTINGS_BY_KIND:
        assert f"| `llmdeploy:kind` | `{kind}` |" in text, f"no table for {kind}"


def test_a_kind_without_its_markers_is_refused() -> None:
    text = SETTINGS_DOC.read_text().replace("<!-- /settings:prod -->", "")
    with pytest.raises(MissingTable, match="settings:prod"):
        render_settings_doc(text)
