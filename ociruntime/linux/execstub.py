"""The last exec goes through a sealed in-memory stub, so /proc/self/exe never leads to the host.

Whatever program a container process execs, the kernel resolves `#!/proc/self/exe` in it (and an
open of /proc/self/exe by a ptracing sibling) against the *caller's* executable. For a runtime written
in Python the caller is the host's interpreter: a container could run it, or open it for writing and
replace it once idle (the CVE-2019-5736 class). So the container process first execs a tiny static
program from a sealed memfd, whose only job is to exec the real program: from then on /proc/self/exe
is that memfd, read-only and gone when the process is.

The stub is a small ELF written below, not a copy of anything. It has two modes, chosen by argv[0]:

- `ocistub PATH ARG0 ...`: execve(PATH, [ARG0, ...], envp); exit 127 if that fails.
- `ociwait CHANNEL FIFO RESULT PATH ARG0 ...`: a created container's init waiting for `start`
  (process/waiter.py). It makes itself non-dumpable (it holds two fds of host files), installs
  handlers for the six signals that end a waiting init (exit 128 + signal) and unblocks them (the
  runtime blocked them before exec, so none was lost meanwhile), then closes CHANNEL, which tells
  `create` it is set up; a failure before that ends it with 127, which `create` sees. It reads one
  byte from FIFO, closes it, marks RESULT close-on-exec and execs; if that fails, it writes a report
  (below) to RESULT for `start` and ends with 127.

Any other argv[0] exits 127: run as the interpreter of a script (`#!/proc/self/exe`), the stub's
argv[0] is the interpreter path.
Where no stub exists for the machine, a sealed copy of the Python interpreter plays the `ocistub`
part (slower: one more interpreter start) and nothing plays `ociwait`.

The stub is exec'd with execveat(fd) (os.execve on an fd): seccomp profiles that allow execve but not
execveat would stop it, as they would stop runc's own memfd re-exec; docker's and podman's allow both.
Its memfd is execute-only (0111): execve makes a process dumpable again unless its program is
unreadable to it, and init execs the waiting stub with CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH
lowered (process/waiter.py), so that stub is never dumpable, not even before its prctl.
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
_REPORT_STEPS = {ord("w"): "exec.fifo", ord("x"): "exec"}

# x86-64. Written with GNU as (Intel syntax) and kept here as its bytes, each line with its offset and
# instruction (tests/unit/test_execstub.py re-assembles these comments and compares). Registers in the
# waiting mode: r14 the channel, r12 exec.fifo, r13 exec.result, rbp the initial stack (argc, argv[],
# NULL, envp[]).
_X86_64_CODE = bytes.fromhex(
    # _start:
    "4889e5"                  # 000  mov rbp, rsp                     rbp: argc, then argv[], NULL, envp[]
    "488b4508"                # 003  mov rax, [rbp+8]                 argv[0]
    # its first 8 bytes (argv strings are contiguous: readable)
    "488b18"                  # 007  mov rbx, [rax]
    "48b96f63697374756200"    # 00a  movabs rcx, 0x006275747369636f   "ocistub\0"
    "4839cb"                  # 014  cmp rbx, rcx
    "0f846e010000"            # 017  je exec_now
    "48b96f63697761697400"    # 01d  movabs rcx, 0x007469617769636f   "ociwait\0"
    "4839cb"                  # 027  cmp rbx, rcx
    "0f8564010000"            # 02a  jne exit_127
    # prctl(PR_SET_DUMPABLE, 0): execve made us dumpable again
    "b89d000000"              # 030  mov eax, 157
    "bf04000000"              # 035  mov edi, 4
    "31f6"                    # 03a  xor esi, esi
    "0f05"                    # 03c  syscall
    "4885c0"                  # 03e  test rax, rax
    "0f854d010000"            # 041  jnz exit_127
    "488b7510"                # 047  mov rsi, [rbp+16]                argv[1]: the runtime's channel fd
    "e879010000"              # 04b  call parse
    "4989c6"                  # 050  mov r14, rax
    "488b7518"                # 053  mov rsi, [rbp+24]                argv[2]: exec.fifo fd
    "e86d010000"              # 057  call parse
    "4989c4"                  # 05c  mov r12, rax
    "488b7520"                # 05f  mov rsi, [rbp+32]                argv[3]: exec.result fd
    "e861010000"              # 063  call parse
    "4989c5"                  # 068  mov r13, rax
    "4883ec40"                # 06b  sub rsp, 64                      [rsp]: struct sigaction; [rsp+32]: scratch
    "488d052c010000"          # 06f  lea rax, [rip+on_signal]
    "48890424"                # 076  mov [rsp], rax                   sa_handler
    # sa_flags: SA_RESTORER (x86-64 delivers no signal without one)
    "48c744240800000004"      # 07a  mov qword ptr [rsp+8], 0x04000000
    "4889442410"              # 083  mov [rsp+16], rax                sa_restorer: never used, the handler exits
    "48c744241800000000"      # 088  mov qword ptr [rsp+24], 0        sa_mask
    "4c8d0554010000"          # 091  lea r8, [rip+ending_signals]
    # next_signal:
    "410fb638"                # 098  movzx edi, byte ptr [r8]
    "85ff"                    # 09c  test edi, edi
    "7420"                    # 09e  jz unblock
    "4889e6"                  # 0a0  mov rsi, rsp                     rt_sigaction(signal, &action, NULL, 8)
    "31d2"                    # 0a3  xor edx, edx
    "41ba08000000"            # 0a5  mov r10d, 8
    "b80d000000"              # 0ab  mov eax, 13
    "0f05"                    # 0b0  syscall
    "4885c0"                  # 0b2  test rax, rax
    "0f85d9000000"            # 0b5  jnz exit_127
    "49ffc0"                  # 0bb  inc r8
    "ebd8"                    # 0be  jmp next_signal
    # unblock:
    "48c7442420074a0000"      # 0c0  mov qword ptr [rsp+32], 0x4a07   rt_sigprocmask(SIG_UNBLOCK, {the six}, NULL, 8)
    "bf01000000"              # 0c9  mov edi, 1
    "488d742420"              # 0ce  lea rsi, [rsp+32]
    "31d2"                    # 0d3  xor edx, edx
    "41ba08000000"            # 0d5  mov r10d, 8
    "b80e000000"              # 0db  mov eax, 14
    "0f05"                    # 0e0  syscall
    "4885c0"                  # 0e2  test rax, rax
    "0f85a9000000"            # 0e5  jnz exit_127
    # close(channel): `create` may return, the stub is set up
    "b803000000"              # 0eb  mov eax, 3
    "4489f7"                  # 0f0  mov edi, r14d
    "0f05"                    # 0f3  syscall
    # wait_byte:
    # read(fifo, scratch, 1): blocks until `start` writes
    "31c0"                    # 0f5  xor eax, eax
    "4489e7"                  # 0f7  mov edi, r12d
    "488d742420"              # 0fa  lea rsi, [rsp+32]
    "ba01000000"              # 0ff  mov edx, 1
    "0f05"                    # 104  syscall
    "4883f801"                # 106  cmp rax, 1
    "740b"                    # 10a  je released
    "4883f8fc"                # 10c  cmp rax, -4                      EINTR: read again
    "74e3"                    # 110  je wait_byte
    "41b077"                  # 112  mov r8b, 0x77                    'w': waiting failed
    "eb32"                    # 115  jmp fail
    # released:
    "b803000000"              # 117  mov eax, 3                       close(fifo)
    "4489e7"                  # 11c  mov edi, r12d
    "0f05"                    # 11f  syscall
    # fcntl(result, F_SETFD, FD_CLOEXEC): execve closes it
    "b848000000"              # 121  mov eax, 72
    "4489ef"                  # 126  mov edi, r13d
    "be02000000"              # 129  mov esi, 2
    "ba01000000"              # 12e  mov edx, 1
    "0f05"                    # 133  syscall
    "41b078"                  # 135  mov r8b, 0x78                    'x': exec failed
    "4885c0"                  # 138  test rax, rax
    "750c"                    # 13b  jnz fail
    # exec_program:
    "488d7528"                # 13d  lea rsi, [rbp+40]                argv[4]: the program
    "e86b000000"              # 141  call execve_at
    "41b078"                  # 146  mov r8b, 0x78
    # fail:
    "f7d8"                    # 149  neg eax                          errno
    # report: 0, the step letter, errno (u16), the program path
    "c644243000"              # 14b  mov byte ptr [rsp+48], 0
    "4488442431"              # 150  mov [rsp+49], r8b
    "6689442432"              # 155  mov [rsp+50], ax
    "b801000000"              # 15a  mov eax, 1                       write(result, report, 4)
    "4489ef"                  # 15f  mov edi, r13d
    "488d742430"              # 162  lea rsi, [rsp+48]
    "ba04000000"              # 167  mov edx, 4
    "0f05"                    # 16c  syscall
    "488b7528"                # 16e  mov rsi, [rbp+40]
    "31d2"                    # 172  xor edx, edx
    # path_length:
    "803c1600"                # 174  cmp byte ptr [rsi+rdx], 0
    "7405"                    # 178  je write_path
    "48ffc2"                  # 17a  inc rdx
    "ebf5"                    # 17d  jmp path_length
    # write_path:
    "b801000000"              # 17f  mov eax, 1                       write(result, path, length)
    "4489ef"                  # 184  mov edi, r13d
    "0f05"                    # 187  syscall
    "eb09"                    # 189  jmp exit_127
    # exec_now:
    "488d7510"                # 18b  lea rsi, [rbp+16]                argv[1]: the program
    "e81d000000"              # 18f  call execve_at
    # exit_127:
    "bf7f000000"              # 194  mov edi, 127                     exit_group(127)
    "b8e7000000"              # 199  mov eax, 231
    "0f05"                    # 19e  syscall
    # not reached (a filter refusing exit_group: SIGILL ends us)
    "0f0b"                    # 1a0  ud2
    # on_signal:
    # exit_group(128 + signal), as a handler-less program is seen
    "81c780000000"            # 1a2  add edi, 128
    "b8e7000000"              # 1a8  mov eax, 231
    "0f05"                    # 1ad  syscall
    "0f0b"                    # 1af  ud2
    # execve_at:
    # rsi: &argv[k]; execve(argv[k], &argv[k+1], envp); returns if it fails
    "488b3e"                  # 1b1  mov rdi, [rsi]
    "4883c608"                # 1b4  add rsi, 8
    "488b4d00"                # 1b8  mov rcx, [rbp]
    "488d54cd10"              # 1bc  lea rdx, [rbp+rcx*8+16]
    "b83b000000"              # 1c1  mov eax, 59
    "0f05"                    # 1c6  syscall
    "c3"                      # 1c8  ret
    # parse:
    # rsi: a decimal number → rax; anything else exits 127
    "31c0"                    # 1c9  xor eax, eax
    "803e00"                  # 1cb  cmp byte ptr [rsi], 0
    "74c4"                    # 1ce  je exit_127
    # parse_digit:
    "0fb60e"                  # 1d0  movzx ecx, byte ptr [rsi]
    "85c9"                    # 1d3  test ecx, ecx
    "7414"                    # 1d5  jz parsed
    "83e930"                  # 1d7  sub ecx, 0x30
    "83f909"                  # 1da  cmp ecx, 9
    "77b5"                    # 1dd  ja exit_127
    "486bc00a"                # 1df  imul rax, rax, 10
    "4801c8"                  # 1e3  add rax, rcx
    "48ffc6"                  # 1e6  inc rsi
    "ebe5"                    # 1e9  jmp parse_digit
    # parsed:
    "c3"                      # 1eb  ret
    # ending_signals:
    "0102030a0c0f00"          # 1ec  .byte 1, 2, 3, 10, 12, 15, 0        HUP INT QUIT USR1 USR2 TERM
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


def _sealed_memfd(name: str, data: bytes, mode: int = 0o555) -> int:
    import fcntl

    fd = os.memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fchmod(fd, mode)
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
            self.fd = _sealed_memfd("ociruntime-exec", elf_stub(_X86_64_CODE, _EM_X86_64), mode=0o111)
            self.prefix: tuple[str, ...] = (MARKER,)
            self.can_wait = True
        else:
            with open(sys.executable, "rb") as f:
                self.fd = _sealed_memfd("ociruntime-exec", f.read())
            self.prefix = ("python3", "-I", "-S", "-c", "import os,sys;os.execve(sys.argv[1],sys.argv[2:],os.environ)")
            self.can_wait = False

    def argv(self, program: str, args: list[str]) -> list[str]:
        return [*self.prefix, program, *args]

    def wait_argv(self, channel_fd: int, fifo_fd: int, result_fd: int, program: str, args: list[str]) -> list[str]:
        """The waiting mode's argv."""
        return [WAIT_MARKER, str(channel_fd), str(fifo_fd), str(result_fd), program, *args]

    def close(self) -> None:
        os.close(self.fd)
