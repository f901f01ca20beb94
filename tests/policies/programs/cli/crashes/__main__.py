"""A program with a bug: `llmdeploy check` exits 2 and says why."""

import pulumi_docker as docker

docker.Container("broken", image=undefined_name)  # noqa: F821 - the bug under test
