"""What every image source offers to the resolver: a root descriptor and blobs by descriptor."""

from __future__ import annotations

from typing import BinaryIO, Protocol

from ociruntime.image.descriptor import Descriptor


class ImageSource(Protocol):
    display: str

    def root(self) -> Descriptor:
        """The descriptor the reference names (a manifest or an index)."""
        ...

    def read_document(self, desc: Descriptor) -> BinaryIO:
        """A manifest or index by descriptor (registries serve these apart from blobs); unverified."""
        ...

    def open_blob(self, desc: Descriptor) -> BinaryIO:
        """A config or layer blob by descriptor; unverified: the caller checks digest and size."""
        ...

    def close(self) -> None: ...
