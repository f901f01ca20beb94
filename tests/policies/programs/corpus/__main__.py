"""One program per variant: `corpus:variant` names a function of variants.py, which declares it."""

import pulumi
import variants

variants.VARIANTS[pulumi.Config().require("variant")]()
