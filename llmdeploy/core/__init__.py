"""The pure floor: engine and GPU catalogues, capacity arithmetic, model configs, user-data rendering.

Nothing here imports Pulumi program code (`components`, `stacks`) or the command line (`llmdeploy.cli`).
"""
