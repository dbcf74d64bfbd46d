"""Checks, one module per spec area; importing this package registers every check in harness.CHECKS."""

from conformance.checks import (  # noqa: F401 - imported for registration
    bundle,
    cgroups,
    devices,
    errors,
    features,
    hooks,
    lifecycle,
    mounts,
    namespaces,
    netdevices,
    process,
    seccomp,
    state,
)
