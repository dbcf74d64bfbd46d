"""linux.seccomp → a libseccomp filter compiled in the parent, loaded in the container process.

Placeholder until the seccomp work lands: a config with seccomp is refused (fail closed), never run
without its filter.
"""

from __future__ import annotations

from typing import Any

from ociruntime import errors
from ociruntime.process.execute import SeccompProgram


def build(doc: dict[str, Any] | None) -> SeccompProgram | None:
    if not doc:
        return None
    raise errors.NotSupported("linux.seccomp", "seccomp is not supported yet")
