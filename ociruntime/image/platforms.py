"""Platform (`os/arch[/variant]`) parsing, the host's own platform, and choosing from an index."""

from __future__ import annotations

import platform as _platform
from dataclasses import dataclass
from typing import Any

from ociruntime.image.descriptor import Descriptor
from ociruntime.image.errors import ImageError

# uname -m -> (GOARCH, variant): image indexes use Go's names.
_MACHINE = {
    "x86_64": ("amd64", ""),
    "amd64": ("amd64", ""),
    "aarch64": ("arm64", "v8"),
    "arm64": ("arm64", "v8"),
    "armv7l": ("arm", "v7"),
    "armv6l": ("arm", "v6"),
    "i686": ("386", ""),
    "i386": ("386", ""),
    "ppc64le": ("ppc64le", ""),
    "s390x": ("s390x", ""),
    "riscv64": ("riscv64", ""),
}
# When an index entry leaves the variant out, this is what it means (the image-spec's platform notes).
_DEFAULT_VARIANT = {"arm64": "v8", "arm": "v7"}


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    def matches(self, entry: dict[str, Any]) -> bool:
        if entry.get("os") != self.os or entry.get("architecture") != self.architecture:
            return False
        if not self.variant:
            return True
        variant = entry.get("variant") or _DEFAULT_VARIANT.get(self.architecture, "")
        return bool(variant == self.variant)


def parse_platform(text: str) -> Platform:
    parts = text.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise ImageError(text, "platform must be os/arch or os/arch/variant")
    return Platform(*parts)


def host_platform() -> Platform:
    arch, variant = _MACHINE.get(_platform.machine(), (_platform.machine(), ""))
    # The host variant is only a preference: an arm64 index entry without a variant still matches.
    return Platform("linux", arch, variant if arch not in _DEFAULT_VARIANT else "")


def describe(entry: dict[str, Any] | None) -> str:
    if not entry:
        return "unknown"
    return "/".join(str(entry.get(k)) for k in ("os", "architecture", "variant") if entry.get(k))


def choose(manifests: list[Descriptor], wanted: Platform, where: str) -> Descriptor:
    for desc in manifests:
        if desc.platform is not None and wanted.matches(desc.platform):
            return desc
    available = sorted({describe(d.platform) for d in manifests})
    raise ImageError(where, f"no image for platform {wanted}; available: {', '.join(available) or 'none'}")
