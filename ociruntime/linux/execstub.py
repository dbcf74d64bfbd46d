"""The last exec goes through a sealed in-memory stub, so /proc/self/exe never leads to the host.

Whatever program a container process execs, the kernel resolves `#!/proc/self/exe` in it (and an
open of /proc/self/exe by a ptracing sibling) against the *caller's* executable. For a runtime written
in Python the caller is the host's interpreter: a container could run it, or open it for writing and
replace it once idle (the CVE-2019-5736 class). So the container process first execs a tiny static
program from a sealed memfd, whose only job is to exec the real program: from then on /proc/self/exe
is that memfd, read-only and gone when the process is.

The stub is a small ELF written below, not a copy of anything. It has two modes, chosen by argv[0]:

- `ocistub PATH ARG0 ...`: execve(PATH, [ARG0, ...], envp); exit 127 if that fails.
- `ociwait FIFO RESULT SECCOMP_FD COUNT FLAGS PATH ARG0 ...`: a created container's init waiting for
  `start` (process/waiter.py). It makes itself non-dumpable (it holds two fds of host files), installs
  handlers for the six signals that end a waiting init (exit 128 + signal) and unblocks them (the
  runtime blocked them before exec, so none was lost meanwhile), reads one byte from FIFO, closes it,
  marks RESULT close-on-exec, loads the seccomp program of COUNT instructions from SECCOMP_FD with
  FLAGS when COUNT is not 0, and execs. A failure is written to RESULT as a `report` (below) and
  ends it with 127.

Any other argv[0] exits 127: run as the interpreter of a script (`#!/proc/self/exe`), the stub's
argv[0] is the interpreter path.
Where no stub exists for the machine, a sealed copy of the Python interpreter plays the `ocistub`
part (slower: one more interpreter start) and nothing plays `ociwait`.

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

# argv[0] of the two modes; anything else exits 127.
MARKER = "ocistub"
WAIT_MARKER = "ociwait"

# A failure in the waiting mode, as written to exec.result: a zero byte, the step's letter, errno
# (16 bits, little-endian), then the program's path. Text reports from Python never start with 0.
_REPORT_STEPS = {ord("w"): "exec.fifo", ord("s"): "seccomp", ord("x"): "exec"}

# x86-64. Written with GNU as (Intel syntax) and kept here as its bytes, each line with its offset and
# instruction (tests/unit/test_execstub.py re-assembles these comments and compares). Registers in the
# waiting mode: r12 exec.fifo, r13 exec.result, r14 the seccomp memfd, r15 its instruction count, rbx
# the seccomp flags, rbp the initial stack (argc, argv[], NULL, envp[]).
_X86_64_CODE = bytes.fromhex(
    # _start:
    "4889e5"                  # 000  mov rbp, rsp                     rbp: argc, then argv[], NULL, envp[]
    "488b4508"                # 003  mov rax, [rbp+8]                 argv[0]
    # its first 8 bytes (argv strings are contiguous: readable)
    "488b18"                  # 007  mov rbx, [rax]
    "48b96f63697374756200"    # 00a  movabs rcx, 0x006275747369636f   "ocistub\0"
    "4839cb"                  # 014  cmp rbx, rcx
    "0f84f0010000"            # 017  je exec_now
    "48b96f63697761697400"    # 01d  movabs rcx, 0x007469617769636f   "ociwait\0"
    "4839cb"                  # 027  cmp rbx, rcx
    "0f85f5010000"            # 02a  jne exit_127
    # prctl(PR_SET_DUMPABLE, 0): execve made us dumpable again
    "b89d000000"              # 030  mov eax, 157
    "bf04000000"              # 035  mov edi, 4
    "31f6"                    # 03a  xor esi, esi
    "0f05"                    # 03c  syscall
    "4885c0"                  # 03e  test rax, rax
    "0f85de010000"            # 041  jnz exit_127
    "488b7510"                # 047  mov rsi, [rbp+16]                argv[1]: exec.fifo fd
    "e8ee010000"              # 04b  call parse
    "4989c4"                  # 050  mov r12, rax
    "488b7518"                # 053  mov rsi, [rbp+24]                argv[2]: exec.result fd
    "e8e2010000"              # 057  call parse
    "4989c5"                  # 05c  mov r13, rax
    "488b7520"                # 05f  mov rsi, [rbp+32]                argv[3]: seccomp program memfd
    "e8d6010000"              # 063  call parse
    "4989c6"                  # 068  mov r14, rax
    "488b7528"                # 06b  mov rsi, [rbp+40]                argv[4]: its instruction count (0: no filter)
    "e8ca010000"              # 06f  call parse
    "4989c7"                  # 074  mov r15, rax
    "488b7530"                # 077  mov rsi, [rbp+48]                argv[5]: seccomp(2) flags
    "e8be010000"              # 07b  call parse
    "4889c3"                  # 080  mov rbx, rax
    "4883ec40"                # 083  sub rsp, 64                      [rsp]: struct sigaction; [rsp+32]: scratch
    "488d05a3010000"          # 087  lea rax, [rip+on_signal]
    "48890424"                # 08e  mov [rsp], rax                   sa_handler
    # sa_flags: SA_RESTORER (x86-64 delivers no signal without one)
    "48c744240800000004"      # 092  mov qword ptr [rsp+8], 0x04000000
    "4889442410"              # 09b  mov [rsp+16], rax                sa_restorer: never used, the handler exits
    "48c744241800000000"      # 0a0  mov qword ptr [rsp+24], 0        sa_mask
    "4c8d05b1010000"          # 0a9  lea r8, [rip+ending_signals]
    # next_signal:
    "410fb638"                # 0b0  movzx edi, byte ptr [r8]
    "85ff"                    # 0b4  test edi, edi
    "7420"                    # 0b6  jz unblock
    "4889e6"                  # 0b8  mov rsi, rsp                     rt_sigaction(signal, &action, NULL, 8)
    "31d2"                    # 0bb  xor edx, edx
    "41ba08000000"            # 0bd  mov r10d, 8
    "b80d000000"              # 0c3  mov eax, 13
    "0f05"                    # 0c8  syscall
    "4885c0"                  # 0ca  test rax, rax
    "0f8552010000"            # 0cd  jnz exit_127
    "49ffc0"                  # 0d3  inc r8
    "ebd8"                    # 0d6  jmp next_signal
    # unblock:
    "48c7442420074a0000"      # 0d8  mov qword ptr [rsp+32], 0x4a07   rt_sigprocmask(SIG_UNBLOCK, {the six}, NULL, 8)
    "bf01000000"              # 0e1  mov edi, 1
    "488d742420"              # 0e6  lea rsi, [rsp+32]
    "31d2"                    # 0eb  xor edx, edx
    "41ba08000000"            # 0ed  mov r10d, 8
    "b80e000000"              # 0f3  mov eax, 14
    "0f05"                    # 0f8  syscall
    "4885c0"                  # 0fa  test rax, rax
    "0f8522010000"            # 0fd  jnz exit_127
    # wait_byte:
    # read(fifo, scratch, 1): blocks until `start` writes
    "31c0"                    # 103  xor eax, eax
    "4489e7"                  # 105  mov edi, r12d
    "488d742420"              # 108  lea rsi, [rsp+32]
    "ba01000000"              # 10d  mov edx, 1
    "0f05"                    # 112  syscall
    "4883f801"                # 114  cmp rax, 1
    "740e"                    # 118  je released
    "4883f8fc"                # 11a  cmp rax, -4                      EINTR: read again
    "74e3"                    # 11e  je wait_byte
    "41b077"                  # 120  mov r8b, 0x77                    'w': waiting failed
    "e9a3000000"              # 123  jmp fail
    # released:
    "b803000000"              # 128  mov eax, 3                       close(fifo)
    "4489e7"                  # 12d  mov edi, r12d
    "0f05"                    # 130  syscall
    # fcntl(result, F_SETFD, FD_CLOEXEC): execve closes it
    "b848000000"              # 132  mov eax, 72
    "4489ef"                  # 137  mov edi, r13d
    "be02000000"              # 13a  mov esi, 2
    "ba01000000"              # 13f  mov edx, 1
    "0f05"                    # 144  syscall
    "41b078"                  # 146  mov r8b, 0x78                    'x': exec failed
    "4885c0"                  # 149  test rax, rax
    "757d"                    # 14c  jnz fail
    "4d85ff"                  # 14e  test r15, r15
    "745d"                    # 151  jz exec_program
    # mmap(NULL, count * 8, PROT_READ, MAP_PRIVATE, memfd, 0)
    "b809000000"              # 153  mov eax, 9
    "31ff"                    # 158  xor edi, edi
    "4a8d34fd00000000"        # 15a  lea rsi, [r15*8]
    "ba01000000"              # 162  mov edx, 1
    "41ba02000000"            # 167  mov r10d, 2
    "4d89f0"                  # 16d  mov r8, r14
    "4531c9"                  # 170  xor r9d, r9d
    "0f05"                    # 173  syscall
    "41b073"                  # 175  mov r8b, 0x73                    's': seccomp failed
    "483d01f0ffff"            # 178  cmp rax, -4095
    "734b"                    # 17e  jae fail
    # struct sock_fprog: len (count < 65536, padding zero)
    "4c897c2420"              # 180  mov [rsp+32], r15
    "4889442428"              # 185  mov [rsp+40], rax                filter
    "b803000000"              # 18a  mov eax, 3                       close(memfd)
    "4489f7"                  # 18f  mov edi, r14d
    "0f05"                    # 192  syscall
    "b83d010000"              # 194  mov eax, 317                     seccomp(SECCOMP_SET_MODE_FILTER, flags, &fprog)
    "bf01000000"              # 199  mov edi, 1
    "4889de"                  # 19e  mov rsi, rbx
    "488d542420"              # 1a1  lea rdx, [rsp+32]
    "0f05"                    # 1a6  syscall
    "41b073"                  # 1a8  mov r8b, 0x73
    "4885c0"                  # 1ab  test rax, rax
    "751b"                    # 1ae  jnz fail
    # exec_program:
    "488b7d38"                # 1b0  mov rdi, [rbp+56]                execve(argv[6], &argv[7], envp)
    "488d7540"                # 1b4  lea rsi, [rbp+64]
    "488b4d00"                # 1b8  mov rcx, [rbp]
    "488d54cd10"              # 1bc  lea rdx, [rbp+rcx*8+16]
    "b83b000000"              # 1c1  mov eax, 59
    "0f05"                    # 1c6  syscall
    "41b078"                  # 1c8  mov r8b, 0x78
    # fail:
    "f7d8"                    # 1cb  neg eax                          errno
    # report: 0, the step letter, errno (u16), the program path
    "c644243000"              # 1cd  mov byte ptr [rsp+48], 0
    "4488442431"              # 1d2  mov [rsp+49], r8b
    "6689442432"              # 1d7  mov [rsp+50], ax
    "b801000000"              # 1dc  mov eax, 1                       write(result, report, 4)
    "4489ef"                  # 1e1  mov edi, r13d
    "488d742430"              # 1e4  lea rsi, [rsp+48]
    "ba04000000"              # 1e9  mov edx, 4
    "0f05"                    # 1ee  syscall
    "488b7538"                # 1f0  mov rsi, [rbp+56]
    "31d2"                    # 1f4  xor edx, edx
    # path_length:
    "803c1600"                # 1f6  cmp byte ptr [rsi+rdx], 0
    "7405"                    # 1fa  je write_path
    "48ffc2"                  # 1fc  inc rdx
    "ebf5"                    # 1ff  jmp path_length
    # write_path:
    "b801000000"              # 201  mov eax, 1                       write(result, path, length)
    "4489ef"                  # 206  mov edi, r13d
    "0f05"                    # 209  syscall
    "eb18"                    # 20b  jmp exit_127
    # exec_now:
    "488b7d10"                # 20d  mov rdi, [rbp+16]                execve(argv[1], &argv[2], envp)
    "488d7518"                # 211  lea rsi, [rbp+24]
    "488b4d00"                # 215  mov rcx, [rbp]
    "488d54cd10"              # 219  lea rdx, [rbp+rcx*8+16]
    "b83b000000"              # 21e  mov eax, 59
    "0f05"                    # 223  syscall
    # exit_127:
    "bf7f000000"              # 225  mov edi, 127                     exit(127)
    "b83c000000"              # 22a  mov eax, 60
    "0f05"                    # 22f  syscall
    # on_signal:
    # exit(128 + signal), as a handler-less program would be seen
    "81c780000000"            # 231  add edi, 128
    "b83c000000"              # 237  mov eax, 60
    "0f05"                    # 23c  syscall
    # parse:
    # rsi: a decimal number → rax; anything else exits 127
    "31c0"                    # 23e  xor eax, eax
    "803e00"                  # 240  cmp byte ptr [rsi], 0
    "74e0"                    # 243  je exit_127
    # parse_digit:
    "0fb60e"                  # 245  movzx ecx, byte ptr [rsi]
    "85c9"                    # 248  test ecx, ecx
    "7414"                    # 24a  jz parsed
    "83e930"                  # 24c  sub ecx, 0x30
    "83f909"                  # 24f  cmp ecx, 9
    "77d1"                    # 252  ja exit_127
    "486bc00a"                # 254  imul rax, rax, 10
    "4801c8"                  # 258  add rax, rcx
    "48ffc6"                  # 25b  inc rsi
    "ebe5"                    # 25e  jmp parse_digit
    # parsed:
    "c3"                      # 260  ret
    # ending_signals:
    "0102030a0c0f00"          # 261  .byte 1, 2, 3, 10, 12, 15, 0        HUP INT QUIT USR1 USR2 TERM
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


def sealed_memfd(name: str, data: bytes) -> int:
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



def describe_report(data: bytes) -> str:
    """The one line a waiting-mode failure report stands for, worded as the Python init words it."""
    if len(data) < 4:
        return "container process failed before exec (truncated report)"
    step = _REPORT_STEPS.get(data[1], "exec")
    code = struct.unpack("<H", data[2:4])[0]
    reason = os.strerror(code) if code else "end of file"
    path = data[4:].decode(errors="replace")
    return f"{step}: {path}: {reason}" if step == "exec" else f"{step}: {reason}"


class ExecStub:
    """An fd to exec instead of the program, and how to build that exec's argv."""

    def __init__(self) -> None:
        if os.uname().machine == "x86_64":
            self.fd = sealed_memfd("ociruntime-exec", elf_stub(_X86_64_CODE, _EM_X86_64))
            self.prefix: tuple[str, ...] = (MARKER,)
            self.can_wait = True
        else:
            with open(sys.executable, "rb") as f:
                self.fd = sealed_memfd("ociruntime-exec", f.read())
            self.prefix = ("python3", "-I", "-S", "-c", "import os,sys;os.execve(sys.argv[1],sys.argv[2:],os.environ)")
            self.can_wait = False

    def argv(self, program: str, args: list[str]) -> list[str]:
        return [*self.prefix, program, *args]

    def wait_argv(
        self, fifo_fd: int, result_fd: int, seccomp: tuple[int, int, int] | None, program: str, args: list[str]
    ) -> list[str]:
        """The waiting mode's argv; `seccomp` is (memfd, instruction count, flags) or None."""
        memfd, count, flags = seccomp if seccomp is not None else (0, 0, 0)
        numbers = (fifo_fd, result_fd, memfd, count, flags)
        return [WAIT_MARKER, *(str(n) for n in numbers), program, *args]

    def close(self) -> None:
        os.close(self.fd)
