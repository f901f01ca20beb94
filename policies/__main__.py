"""The llm-serving policy pack: `pulumi preview --policy-pack policies`."""

from llmpolicies import PACK_NAME, all_policies
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(
    name=PACK_NAME,
    policies=all_policies(),
    enforcement_level=EnforcementLevel.MANDATORY,
    description="LLM serving: Hugging Face token handling, engine runtime needs (vLLM host IPC, TGI shared "
    "memory), metrics reachability, pinned images, and an AWS baseline for GPU instances and load balancers.",
)
