"""Process attributes applied just before the identity switch: rlimits, oom_score_adj, scheduler,
I/O priority, personality, execCPUAffinity and the memory policy.

Placeholder until that work lands.
"""

from __future__ import annotations

from ociruntime.process.execute import ProcessAttributes
from ociruntime.spec.model import Spec


def plan(spec: Spec) -> ProcessAttributes | None:
    del spec
    return None
