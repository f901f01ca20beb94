"""The kinds of stack llmdeploy builds: the one list every layer reads.

A stack's kind comes from `llmdeploy:kind`, else from the stack's name. The
policy pack knows no stacks and does not read this.
"""

from __future__ import annotations

from typing import Literal, get_args

# Every kind, in the order the README and error lines list them.
StackKind = Literal["dev", "staging", "prod"]
STACK_KINDS: tuple[StackKind, ...] = get_args(StackKind)
# The kinds that run on AWS: the ops commands (preflight, verify, rollout) work on these.
AWS_STACK_KINDS: tuple[StackKind, ...] = ("staging", "prod")
