"""Example values left in a stack file: `llmdeploy plan` warns about each, on stderr."""

from __future__ import annotations

import base64
import re
import shutil
from pathlib import Path

import pytest

from llmdeploy.cli.examples import example_values, is_placeholder_ciphertext
from tests.conftest import llmdeploy_cli
from tests.support import REPO

REAL_SHAPE = "v1:" + base64.b64encode(b"n" * 12).decode() + ":" + base64.b64encode(b"c" * 40).decode()
EXAMPLE_PLACEHOLDER = "v1:cGxhY2Vob2xkZXI=:cmVwbGFjZSB3aXRoIHB1bHVtaSBjb25maWcgc2V0IC0tc2VjcmV0IGhmVG9rZW4="


@pytest.mark.parametrize(
    ("ciphertext", "has_salt", "placeholder"),
    [
        (EXAMPLE_PLACEHOLDER, True, True),  # an 11-byte nonce: AES-GCM's is 12
        (REAL_SHAPE, True, False),
        (REAL_SHAPE, False, True),  # no encryptionsalt: no passphrase key exists for it
        ("v1:not base64!:xx", True, True),
        ("v1:only-one-part", True, True),
        ("AQICAHh...kms-ciphertext", False, False),  # another provider's value: not judged
    ],
)
def test_placeholder_ciphertexts(ciphertext: str, has_salt: bool, placeholder: bool) -> None:
    assert is_placeholder_ciphertext(ciphertext, has_salt) is placeholder


def test_every_kind_of_example_value_is_found_and_real_values_are_not() -> None:
    found = example_values(
        {
            "encryptionsalt": "v1:abc",
            "config": {
                "llmdeploy:apiAllowedCidrs": ["10.0.0.0/8", "198.51.100.7/32", "2001:db8:1::/48"],
                "llmdeploy:monitoringCidrs": ["192.0.2.0/24"],
                "llmdeploy:certificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/x",
                "llmdeploy:alarmTopicArns": ["arn:aws:sns:us-east-1:210987654321:oncall"],
                "llmdeploy:hfToken": {"secure": EXAMPLE_PLACEHOLDER},
                "llmdeploy:apiKey": {"secure": REAL_SHAPE},
                "llmdeploy:vpcCidr": "203.0.112.0/23",  # contains a documentation range, is not one
            },
        }
    )
    assert [(value.key, value.found) for value in found] == [
        ("llmdeploy:apiAllowedCidrs", "198.51.100.7/32"),
        ("llmdeploy:apiAllowedCidrs", "2001:db8:1::/48"),
        ("llmdeploy:monitoringCidrs", "192.0.2.0/24"),
        ("llmdeploy:certificateArn", "arn:aws:acm:us-east-1:123456789012:certificate/x"),
        ("llmdeploy:hfToken", "a secure: placeholder"),
    ]


def test_plan_warns_on_the_example_prod_stack_and_the_json_is_unchanged() -> None:
    result = llmdeploy_cli("plan", "prod", "--format", "json")
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: Pulumi.prod.yaml")]
    assert len(warnings) == 4, result.stderr
    assert any("certificateArn" in line and "123456789012" in line for line in warnings)
    assert any("apiAllowedCidrs is 203.0.113.0/24" in line for line in warnings)
    assert "warning" not in result.stdout


def test_plan_is_quiet_once_the_values_are_real(tmp_path: Path) -> None:
    for name in ("Pulumi.yaml", "__main__.py", "requirements.txt"):
        shutil.copy(REPO / name, tmp_path / name)
    for folder in ("stacks", "components"):
        shutil.copytree(REPO / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    text = (REPO / "Pulumi.staging.yaml").read_text()
    text = text.replace('["203.0.113.0/24"]', '["100.24.0.0/16"]')
    # Every secure: placeholder (hfToken, apiKey) becomes a real-shaped ciphertext.
    text = re.sub(r"v1:cGxhY2Vob2xkZXI=:[A-Za-z0-9+/=]+", REAL_SHAPE, text)
    (tmp_path / "Pulumi.staging.yaml").write_text("encryptionsalt: v1:c2FsdA==:v1:x:y\n" + text)
    result = llmdeploy_cli("plan", "staging", "--program", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "warning: Pulumi.staging.yaml" not in result.stderr, result.stderr
