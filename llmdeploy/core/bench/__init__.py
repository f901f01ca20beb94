"""`llmdeploy bench`'s pure half: the sweep, SLOs, cost per million tokens, the result and its renderings.

Nothing here runs a load test or touches a file: `llmdeploy/cli/bench` drives GuideLLM and writes.
"""
