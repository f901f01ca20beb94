"""Settings (llmdeploy.core.engines) and the policy pack read an image reference the same way.

Both call docker-image-py's `Reference.parse_normalized_named`; this table is what keeps a
digest-pinned `repo:v0.30.0@sha256:...` from meaning one thing to a stack and another to a policy.
"""

from __future__ import annotations

import pytest
from llmpolicies import engines as pack

from llmdeploy.core import engines as core

DIGEST = "sha256:" + "a" * 64

# reference, tag, digest, pinned
REFERENCES = [
    ("vllm/vllm-openai:v0.30.0", "v0.30.0", None, True),
    (f"vllm/vllm-openai:v0.30.0@{DIGEST}", "v0.30.0", DIGEST, True),
    (f"vllm/vllm-openai@{DIGEST}", None, DIGEST, True),
    ("vllm/vllm-openai", None, None, False),
    ("vllm/vllm-openai:latest", "latest", None, False),
    (f"vllm/vllm-openai:latest@{DIGEST}", "latest", DIGEST, True),
    ("localhost:5000/vllm/vllm-openai:v0.30.0", "v0.30.0", None, True),
    ("ghcr.io/huggingface/text-generation-inference:3.3.4", "3.3.4", None, True),
    ("ollama/ollama:0.32.13", "0.32.13", None, True),
    # Docker refuses these: neither side calls them pinned.
    ("repo:v0.30.0@sha256:abc", None, None, False),
    ("vllm/VLLM-openai:v0.30.0", None, None, False),
]


@pytest.mark.parametrize(("reference", "tag", "digest", "pinned"), REFERENCES)
def test_both_sides_split_a_reference_alike(
    reference: str, tag: str | None, digest: str | None, pinned: bool
) -> None:
    pack_ref = pack.parse_image(reference)
    assert core.image_tag(reference) == tag, reference
    assert (pack_ref.tag if pack_ref else None) == tag, reference
    assert (pack_ref.digest if pack_ref else None) == digest, reference
    assert core.is_pinned(reference) is pinned, reference
    assert pack.is_pinned(reference) is pinned, reference


def test_an_unparsable_reference_names_itself() -> None:
    with pytest.raises(ValueError, match=r"'repo:v0.30.0@sha256:abc' is not a Docker image reference"):
        core.image_reference("repo:v0.30.0@sha256:abc")
