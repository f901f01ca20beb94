"""Pulumi entry point: read this stack's settings, build the stack they describe."""

from stacks import build_current_stack

build_current_stack()
