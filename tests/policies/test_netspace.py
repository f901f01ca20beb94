"""The internet by address space: one function for the pack's rules and the stacks' settings."""

from __future__ import annotations

import pytest
from llmpolicies.netspace import covers_internet, public_reach

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "cidrs",
    [
        ["0.0.0.0/0"],
        ["0.0.0.0/1", "128.0.0.0/1"],
        ["8.0.0.0/8", "9.0.0.0/8"],  # two public /8s: more than one
        ["8.0.0.0/7"],
        [f"{first}.0.0.0/8" for first in range(11, 100)],  # many /8s, none of them alone the internet
        ["::/0"],
        ["2600::/16"],
        ["2000::/3"],
        ["10.0.0.0/8", "0.0.0.0/0"],
    ],
)
def test_the_internet_whatever_the_split(cidrs: list[str]) -> None:
    assert covers_internet(cidrs), public_reach(cidrs)


@pytest.mark.parametrize(
    "cidrs",
    [
        [],
        ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"],  # private and shared space
        ["8.0.0.0/8"],  # exactly a /8: the threshold is "more than"
        ["52.95.110.0/24"],
        ["2600::/17"],
        ["2001:db8::/32"],  # documentation
        ["fc00::/7"],  # unique local
        ["203.0.113.0/24", "198.51.100.0/24"],
        ["not-a-cidr"],
    ],
)
def test_not_the_internet(cidrs: list[str]) -> None:
    assert not covers_internet(cidrs), public_reach(cidrs)


def test_overlaps_count_once_and_invalid_sources_are_named() -> None:
    reach = public_reach(["8.0.0.0/8", "8.0.0.0/9", "8.128.0.0/9", "bogus"])
    assert reach.ipv4_public == 2**24
    assert reach.invalid == ("bogus",)
    assert reach.describe() == "16,777,216 public IPv4 addresses"
