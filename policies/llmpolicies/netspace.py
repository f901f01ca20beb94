"""Whether a set of source CIDRs reaches "the internet", measured by public address space.

A literal `0.0.0.0/0` is only one way to open a port to everyone: `0.0.0.0/1` plus
`128.0.0.0/1`, or a few hundred /8s, do the same. So the question is how much
*public* address space the union of the sources covers, whatever the split:

- IPv4: more than a /8 (2**24 addresses) of public space is the internet. A /8 of
  public space is already far more than any one organisation's network.
- IPv6: any public /16 (2**112 addresses of 2000::/3, the global unicast space).

Private, shared, loopback, link-local, multicast and reserved ranges are not
public, so `10.0.0.0/8` plus `172.16.0.0/12` is never the internet.

One home: this module is the pack's, and llmdeploy's stack settings
(`apiAllowedCidrs`, `monitoringCidrs`) call the same function, so a setting
the stacks accept is a rule the pack accepts. The pack cannot import llmdeploy
(it checks any program); llmdeploy ships this package (pyproject's
`packages.find` also looks in `policies/`) and imports it. Standard library only.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

IPV4_THRESHOLD_PREFIX = 8
IPV6_THRESHOLD_PREFIX = 16
THRESHOLD_TEXT = "more than a /8 of public IPv4 space, or a /16 of public IPv6 space"

# Not public (RFC 6890 special-purpose registries, the ranges that matter here).
_IPV4_NOT_PUBLIC = [
    ipaddress.IPv4Network(net)
    for net in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/3",  # multicast and reserved: 224/4 and 240/4
    )
]
_IPV6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_IPV6_NOT_PUBLIC = [ipaddress.IPv6Network(net) for net in ("2001:db8::/32",)]


@dataclass(frozen=True)
class Reach:
    """How much public address space a set of sources covers."""

    ipv4_public: int
    ipv6_public: int
    # Sources that are not CIDRs at all (reported by the caller, never counted as safe or open).
    invalid: tuple[str, ...] = ()

    @property
    def is_internet(self) -> bool:
        return self.ipv4_public > 2 ** (32 - IPV4_THRESHOLD_PREFIX) or self.ipv6_public >= 2 ** (
            128 - IPV6_THRESHOLD_PREFIX
        )

    def describe(self) -> str:
        parts = []
        if self.ipv4_public:
            parts.append(f"{self.ipv4_public:,} public IPv4 addresses")
        if self.ipv6_public:
            parts.append(f"{_ipv6_blocks(self.ipv6_public)} of public IPv6")
        return " and ".join(parts) or "no public address space"


def _ipv6_blocks(count: int) -> str:
    """IPv6 counts are unreadable as numbers: say how many /16 (or /48) blocks they are."""
    for prefix in (16, 32, 48, 64):
        size = 2 ** (128 - prefix)
        if count >= size:
            return f"{count / size:g} x /{prefix}"
    return f"{count} addresses"


def _subtract(
    networks: list[ipaddress.IPv4Network] | list[ipaddress.IPv6Network], holes: Iterable[object]
) -> list[object]:
    result: list[object] = list(networks)
    for hole in holes:
        kept: list[object] = []
        for net in result:
            if net.overlaps(hole):  # type: ignore[attr-defined]
                if net.subnet_of(hole):  # type: ignore[attr-defined]
                    continue
                if hole.subnet_of(net):  # type: ignore[attr-defined]
                    kept.extend(net.address_exclude(hole))  # type: ignore[attr-defined]
                    continue
            kept.append(net)
        result = kept
    return result


def public_reach(cidrs: Iterable[str]) -> Reach:
    """The public address space covered by the union of `cidrs` (overlaps counted once)."""
    v4: list[ipaddress.IPv4Network] = []
    v6: list[ipaddress.IPv6Network] = []
    invalid: list[str] = []
    for text in cidrs:
        try:
            network = ipaddress.ip_network(str(text).strip(), strict=False)
        except ValueError:
            invalid.append(str(text))
            continue
        if isinstance(network, ipaddress.IPv4Network):
            v4.append(network)
        else:
            v6.append(network)
    v4_public = _subtract(list(ipaddress.collapse_addresses(v4)), _IPV4_NOT_PUBLIC)
    v6_global: list[object] = []
    for net in ipaddress.collapse_addresses(v6):
        if net.subnet_of(_IPV6_GLOBAL_UNICAST):
            v6_global.append(net)
        elif _IPV6_GLOBAL_UNICAST.subnet_of(net):
            v6_global.append(_IPV6_GLOBAL_UNICAST)
    v6_public = _subtract(v6_global, _IPV6_NOT_PUBLIC)  # type: ignore[arg-type]
    return Reach(
        ipv4_public=sum(net.num_addresses for net in v4_public),  # type: ignore[attr-defined]
        ipv6_public=sum(net.num_addresses for net in v6_public),  # type: ignore[attr-defined]
        invalid=tuple(invalid),
    )


def covers_internet(cidrs: Iterable[str]) -> bool:
    """True when the sources together reach the internet (see the module docstring's threshold)."""
    return public_reach(cidrs).is_internet
