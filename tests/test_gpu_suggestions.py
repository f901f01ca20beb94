"""Suggestions for an unknown instance type: closest first, whatever the case."""

from __future__ import annotations

import pytest

from llmdeploy.core.gpus import edit_distance, gpu_instance_type, nearest_gpu_instance_types
from stacks.settings import SettingsError, load_settings


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        ("", "", 0),
        ("g5.xlarge", "g5.xlarge", 0),
        ("g5.xlarg", "g5.xlarge", 1),
        ("m5", "g6e", 3),
        ("", "abc", 3),
    ],
)
def test_edit_distance(a: str, b: str, distance: int) -> None:
    assert edit_distance(a, b) == distance == edit_distance(b, a)


@pytest.mark.parametrize(
    ("typed", "first"),
    [
        ("G5.XLARGE", "g5.xlarge"),
        ("g5.xlarg", "g5.xlarge"),
        ("g5xlarge", "g5.xlarge"),
        ("P5.48XLarge", "p5.48xlarge"),
        ("p4d.24xl", "p4d.24xlarge"),
        (" g6e.2xlarge ", "g6e.2xlarge"),
    ],
)
def test_the_closest_type_comes_first_whatever_the_case(typed: str, first: str) -> None:
    assert gpu_instance_type(first) is not None
    assert nearest_gpu_instance_types(typed)[0] == first


def test_suggestions_are_ranked_by_closeness() -> None:
    nearest = nearest_gpu_instance_types("g5.xlarg", count=5)
    distances = [edit_distance("g5.xlarg", name) for name in nearest]
    assert distances == sorted(distances) and distances[0] == 1


def test_settings_suggest_the_lowercase_type() -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(
            "staging", {"llmdeploy:model": "Qwen/Qwen2.5-7B-Instruct", "llmdeploy:instanceType": "G5.XLARGE"}
        )
    assert "found 'G5.XLARGE'" in str(refused.value) and "(nearest: g5.xlarge," in str(refused.value)
