"""A program that refuses its settings with pulumi.RunError, as the stacks do: `llmdeploy check` exits 1."""

import pulumi

raise pulumi.RunError("cli-refuses:replicas: found 0; accepted: a whole number from 1 to 8")
