"""The last exec goes through a sealed in-memory stub, so /proc/self/exe never leads to the host.

Whatever program a container process execs, the kernel resolves `#!/proc/self/exe` in it (and an
open of /proc/self/exe by a ptracing sibling) against the *caller's* executable. For a runtime written
in Python the caller is the host's interpreter: a container could run it, or open it for writing and
replace it once idle (the CVE-2019-5736 class). So the container process first execs a tiny static
program from a sealed memfd, whose only job is to exec the real program: from then on /proc/self/exe
is that memfd, read-only and gone when the process is.

The stub is a small ELF written below, not a copy of anything: with argv = [marker, path, arg0, ...]
it calls execve(path, [arg0, ...], envp) and exits 127 if that fails or the marker is not there.
Where no stub exists for the machine, a sealed copy of the Python interpreter plays its part (slower:
one more interpreter start).

The stub is exec'd with execveat(fd) (os.execve on an fd): seccomp profiles that allow execve but not
execveat would stop it, as they would stop runc's own memfd re-exec; docker's and podman's allow both.
"""

from __future__ import annotations

import os
import struct
import sys

MFD_CLOEXEC = 0x1
MFD_ALLOW_SEALING = 0x2
F_ADD_SEALS = 1033
F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_WRITE = 0x1, 0x2, 0x4, 0x8

_LOAD_ADDRESS = 0x400000

# The stub refuses to run unless argv[0] is exactly this marker: run as the interpreter of a script
# (`#!/proc/self/exe`), its argv[0] is the interpreter path, and it exits 127 instead of exec'ing on.
MARKER = "ocistub"

# x86-64: if the first 8 bytes of argv[0] are "ocistub\0": execve(argv[1], &argv[2], envp); exit(127).
_X86_64_CODE = bytes.fromhex(
    "488b442408"  # mov rax, [rsp+8]           argv[0]
    "488b18"  # mov rbx, [rax]                  its first 8 bytes
    "48b96f63697374756200"  # mov rcx, "ocistub\0"
    "4839cb"  # cmp rbx, rcx
    "751a"  # jne fail
    "488b7c2410"  # mov rdi, [rsp+16]          argv[1]: the program
    "488d742418"  # lea rsi, [rsp+24]          &argv[2]: its argv
    "488b0c24"  # mov rcx, [rsp]               argc
    "488d54cc10"  # lea rdx, [rsp+rcx*8+16]    envp
    "b83b000000"  # mov eax, 59 (execve)
    "0f05"  # syscall
    "bf7f000000"  # fail: mov edi, 127
    "b83c000000"  # mov eax, 60 (exit)
    "0f05"  # syscall
)
_EM_X86_64 = 0x3E


def elf_stub(code: bytes, machine: int) -> bytes:
    """A minimal static ELF64 executable: one read+execute PT_LOAD segment holding everything."""
    header_size, phdr_size = 64, 56
    entry = _LOAD_ADDRESS + header_size + phdr_size
    total = header_size + phdr_size + len(code)
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)  # 64-bit, little-endian, version 1, SysV
    header = ident + struct.pack(
        "<HHIQQQIHHHHHH", 2, machine, 1, entry, header_size, 0, 0, header_size, phdr_size, 1, 0, 0, 0
    )
    phdr = struct.pack("<IIQQQQQQ", 1, 5, 0, _LOAD_ADDRESS, _LOAD_ADDRESS, total, total, 0x1000)
    return header + phdr + code


def _sealed_memfd(name: str, data: bytes) -> int:
    import fcntl

    fd = os.memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fchmod(fd, 0o555)
        fcntl.fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)
    except BaseException:
        os.close(fd)
        raise
    return fd


class ExecStub:
    """An fd to exec instead of the program, and how to build that exec's argv."""

    def __init__(self) -> None:
        if os.uname().machine == "x86_64":
            self.fd = _sealed_memfd("ociruntime-exec", elf_stub(_X86_64_CODE, _EM_X86_64))
            self.prefix: tuple[str, ...] = (MARKER,)
        else:
            with open(sys.executable, "rb") as f:
                self.fd = _sealed_memfd("ociruntime-exec", f.read())
            self.prefix = ("python3", "-I", "-S", "-c", "import os,sys;os.execve(sys.argv[1],sys.argv[2:],os.environ)")

    def argv(self, program: str, args: list[str]) -> list[str]:
        return [*self.prefix, program, *args]

    def close(self) -> None:
        os.close(self.fd)
