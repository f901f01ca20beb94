"""The recorded accuracy comparison (bench/results) is current and within the issue's targets."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

from llmdeploy.core.capacity import kv_bytes_per_token, weight_bytes
from llmdeploy.core.models import resolve_model

BENCH = Path(__file__).resolve().parent.parent / "bench"


def accuracy_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("capacity_accuracy", BENCH / "capacity_accuracy.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_recorded_results_are_what_the_script_writes() -> None:
    module = accuracy_module()
    text, _ = module.render()
    assert text == module.RESULT.read_text(), "bench/results/capacity_accuracy.md is stale: run the script"


def test_measured_architectures_are_within_target() -> None:
    measured = json.loads((BENCH / "results" / "capacity_measured.json").read_text())
    assert measured["device"].startswith("NVIDIA") and len(measured["models"]) >= 10
    for name, entry in measured["models"].items():
        assert "error" not in entry, f"{name}: {entry.get('error')}"
        arch = resolve_model(name)
        assert arch.parameter_counts().total == entry["parameters"], name
        error = abs(weight_bytes(arch) - entry["allocated_bytes"]) / entry["allocated_bytes"]
        assert error <= 0.02, f"{name}: weights off by {error:.2%}"
        assert kv_bytes_per_token(arch) == entry["kv_bytes_per_token"], f"{name}: KV bytes per token"
    assert accuracy_module().render()[1] == []
