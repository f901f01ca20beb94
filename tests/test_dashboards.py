"""The Grafana dashboards shipped in the package are the generated ones, and importable."""

from __future__ import annotations

import json
import re
from importlib import resources

import pytest

from llmdeploy.core.dashboards import PANELS, grafana_dashboard


@pytest.mark.parametrize("engine", sorted(PANELS))
def test_the_shipped_dashboard_is_the_generated_one(engine: str) -> None:
    shipped = resources.files("llmdeploy.core").joinpath(f"data/dashboards/{engine}.json").read_text()
    assert json.loads(shipped) == grafana_dashboard(engine), (
        f"llmdeploy/core/data/dashboards/{engine}.json is stale: regenerate it from llmdeploy/core/dashboards.py"
    )


@pytest.mark.parametrize("engine", sorted(PANELS))
def test_every_panel_queries_its_engine_with_a_datasource_variable(engine: str) -> None:
    dashboard = grafana_dashboard(engine)
    prefix = {"vllm": "vllm:", "tgi": "tgi_"}[engine]
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}"
        for target in panel["targets"]:
            names = re.findall(r"[a-z_]+:[a-z0-9_:]+|tgi_[a-z0-9_]+", target["expr"])
            assert names and all(name.startswith(prefix) for name in names), target["expr"]


def test_the_vllm_dashboard_covers_what_operators_ask_first() -> None:
    titles = " ".join(panel["title"] for panel in grafana_dashboard("vllm")["panels"]).lower()
    for topic in (
        "queue",
        "running",
        "kv-cache",
        "first token",
        "inter-token",
        "end-to-end",
        "tokens per second",
    ):
        assert topic in titles, topic
