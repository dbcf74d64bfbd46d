"""The exec stub (linux/execstub.py), run for real: its listing is what it says, and its waiting mode
waits, execs, reports, ends on signals and is not dumpable."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ociruntime.linux import execstub
from ociruntime.process.waiter import ENDING_SIGNALS

pytestmark = pytest.mark.skipif(os.uname().machine != "x86_64", reason="the stub is x86-64 code")

BUSYBOX = "/bin/busybox"  # static (busybox-static): runs without reading a library


@pytest.fixture(scope="module")
def stub() -> Iterator[execstub.ExecStub]:
    made = execstub.ExecStub()
    yield made
    made.close()


class Waiting:
    """A stub in its waiting mode, started from a forked child, with the runtime's ends of its fds."""

    def __init__(
        self,
        stub: execstub.ExecStub,
        program: str,
        args: list[str],
        *,
        pending_signal: int | None = None,
        uid: int | None = None,
    ) -> None:
        self.channel_r, channel_w = os.pipe()  # stands for the runtime's channel: closed once set up
        fifo_r, self.fifo_w = os.pipe()
        self.result_r, result_w = os.pipe()
        out_r, out_w = os.pipe()
        passed = [channel_w, fifo_r, result_w]
        argv = stub.wait_argv(channel_w, fifo_r, result_w, program, args)
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover - the child
            try:
                os.dup2(out_w, 1)
                os.dup2(out_w, 2)
                for fd in passed:  # the stub's own fd stays close-on-exec, as in the runtime
                    os.set_inheritable(fd, True)
                if pending_signal is not None:
                    # Sent while blocked, as the runtime blocks the ending signals before the exec.
                    signal_mask(pending_signal)
                    os.kill(os.getpid(), pending_signal)
                if uid is not None:
                    os.setgid(uid)
                    os.setuid(uid)
                os.execve(stub.fd, argv, {"PATH": "/bin"})
            finally:
                os._exit(99)
        self.out_r = out_r
        # What the stub's fds are (pipe:[inode], the memfd): the program must hold none of them.
        self.handed = {os.readlink(f"/proc/self/fd/{fd}") for fd in (fifo_r, self.result_r, stub.fd)}
        self.handed.add(os.readlink(f"/proc/self/fd/{self.channel_r}"))
        for fd in (*passed, out_w):
            os.close(fd)

    def set_up(self) -> bool:
        """Whether the stub closed the channel (set up) rather than died: blocks until one of them."""
        read_to_end(self.channel_r)
        return os.readlink(f"/proc/{self.pid}/exe").startswith("/memfd:ociruntime-exec")

    def release(self) -> None:
        os.write(self.fifo_w, b"0")

    def finish(self) -> tuple[int, bytes, str]:
        """Exit status (as waitpid gives it), what was written to exec.result, and the output."""
        try:
            os.close(self.channel_r)
        except OSError:
            pass  # set_up() read it to the end and closed it
        report = read_to_end(self.result_r)
        output = read_to_end(self.out_r).decode()
        _, status = os.waitpid(self.pid, 0)
        os.close(self.fifo_w)
        return status, report, output


def signal_mask(sig: int) -> None:
    import signal

    signal.pthread_sigmask(signal.SIG_BLOCK, {sig})


def read_to_end(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


def proc_state(pid: int) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("State:"):
            return line.split()[1]
    raise AssertionError("no State line")


def wait_sleeping(pid: int) -> None:
    """Until the stub (not the forked child before its exec) blocks."""
    deadline = time.monotonic() + 5
    while proc_state(pid) != "S" or not os.readlink(f"/proc/{pid}/exe").startswith("/memfd:ociruntime-exec"):
        assert time.monotonic() < deadline, f"stub {pid} never blocked"
        time.sleep(0.01)


# --- the listing -----------------------------------------------------------------------------------

_LINE = re.compile(r'^\s+"([0-9a-f]+)"\s+# ([0-9a-f]{3})  (.+?)(?:\s{2,}.*)?$')
_LABEL = re.compile(r"^\s+# ([a-z_0-9]+):$")


def test_the_listing_assembles_to_the_bytes_it_shows(tmp_path: Path) -> None:
    # The comments are the source: re-assembled with GNU as they must give exactly the stub's bytes,
    # at the offsets they claim. (binutils is installed by scripts/setup.)
    assembler, objcopy = shutil.which("as"), shutil.which("objcopy")
    assert assembler and objcopy, "binutils (as, objcopy) is needed to check the stub's listing"
    source = Path(execstub.__file__).read_text()
    body = source.split("_X86_64_CODE = bytes.fromhex(\n", 1)[1].split("\n)\n", 1)[0]
    lines = [".intel_syntax noprefix"]
    offsets = []
    for line in body.splitlines():
        if label := _LABEL.match(line):
            lines.append(f"{label.group(1)}:")
        elif insn := _LINE.match(line):
            lines.append(insn.group(3))
            offsets.append((int(insn.group(2), 16), bytes.fromhex(insn.group(1))))
    (tmp_path / "stub.S").write_text("\n".join(lines) + "\n")
    subprocess.run([assembler, "-o", str(tmp_path / "stub.o"), str(tmp_path / "stub.S")], check=True)
    binary = tmp_path / "stub.bin"
    subprocess.run([objcopy, "-O", "binary", "-j", ".text", str(tmp_path / "stub.o"), str(binary)], check=True)
    assembled = binary.read_bytes()
    assert assembled == execstub._X86_64_CODE
    for offset, encoded in offsets:
        assert assembled[offset : offset + len(encoded)] == encoded, f"offset {offset:#x}"


def test_the_stub_ends_on_the_signals_the_python_init_ends_on() -> None:
    table = execstub._X86_64_CODE[-7:]
    assert tuple(table[:-1]) == tuple(sorted(ENDING_SIGNALS)) and table[-1] == 0


# --- running it ------------------------------------------------------------------------------------


def test_waits_for_the_byte_then_execs_the_program(stub: execstub.ExecStub) -> None:
    w = Waiting(stub, BUSYBOX, ["echo", "released"])
    wait_sleeping(w.pid)
    time.sleep(0.1)
    assert proc_state(w.pid) == "S"  # still waiting: nothing ran
    assert os.readlink(f"/proc/{w.pid}/exe").startswith("/memfd:ociruntime-exec")
    w.release()
    status, report, output = w.finish()
    assert (os.waitstatus_to_exitcode(status), report, output) == (0, b"", "released\n")


def test_the_program_inherits_none_of_the_stubs_fds(stub: execstub.ExecStub) -> None:
    w = Waiting(stub, BUSYBOX, ["sh", "-c", "for f in /proc/self/fd/*; do readlink $f; done; true"])
    w.release()
    status, report, output = w.finish()
    assert os.waitstatus_to_exitcode(status) == 0, (report, output)
    held = set(output.splitlines())
    # Not the channel, the fifo, the result or the stub itself. (The other fds the forked test process
    # had are the runtime's job: it closes them before exec'ing the stub.)
    assert len(w.handed) == 4 and held and not held & w.handed, (held, w.handed)


def test_the_channel_closes_once_the_stub_is_set_up(stub: execstub.ExecStub) -> None:
    w = Waiting(stub, BUSYBOX, ["true"])
    assert w.set_up()
    assert proc_state(w.pid) in ("S", "R")  # waiting, not gone
    w.release()
    status, _, _ = w.finish()
    assert os.waitstatus_to_exitcode(status) == 0


def test_an_exec_failure_is_reported_on_exec_result(stub: execstub.ExecStub, tmp_path: Path) -> None:
    not_executable = tmp_path / "data"
    not_executable.write_text("just text\n")
    not_executable.chmod(0o755)
    cases = (("/nonexistent/program", "No such file or directory"), (str(not_executable), "Exec format error"))
    for program, reason in cases:
        w = Waiting(stub, program, ["x"])
        w.release()
        status, report, _ = w.finish()
        assert os.waitstatus_to_exitcode(status) == 127
        assert report[:2] == b"\0x"
        assert execstub.describe_report(report) == f"exec: {program}: {reason}"


@pytest.mark.parametrize("sig", ENDING_SIGNALS)
def test_an_ending_signal_ends_the_wait_as_128_plus_it(stub: execstub.ExecStub, sig: int) -> None:
    w = Waiting(stub, BUSYBOX, ["echo", "must not run"])
    wait_sleeping(w.pid)
    os.kill(w.pid, sig)
    status, report, output = w.finish()
    assert (os.waitstatus_to_exitcode(status), report, output) == (128 + sig, b"", "")


def test_a_signal_pending_at_exec_is_delivered_once_the_handlers_are_in(stub: execstub.ExecStub) -> None:
    w = Waiting(stub, BUSYBOX, ["echo", "must not run"], pending_signal=15)
    status, report, output = w.finish()
    assert (os.waitstatus_to_exitcode(status), output) == (143, "")


class ReadableStub(execstub.ExecStub):
    """The same program in a readable memfd: execve leaves it dumpable, so only its prctl makes it not."""

    def __init__(self) -> None:
        code = execstub.elf_stub(execstub._X86_64_CODE, execstub._EM_X86_64)
        self.fd = execstub._sealed_memfd("ociruntime-exec", code, mode=0o555)
        self.prefix = (execstub.MARKER,)
        self.can_wait = True


def test_the_stub_is_execute_only(stub: execstub.ExecStub) -> None:
    assert os.fstat(stub.fd).st_mode & 0o7777 == 0o111


@pytest.mark.parametrize("readable", [False, True], ids=["execute-only", "readable"])
def test_the_waiting_stub_is_not_dumpable(stub: execstub.ExecStub, readable: bool) -> None:
    # /proc/<pid>/status of a non-dumpable process belongs to root whatever its uid; a dumpable one's
    # to its uid (the program, once exec'd, is dumpable again).
    nobody = 65534
    used = ReadableStub() if readable else stub
    w = Waiting(used, BUSYBOX, ["sleep", "5"], uid=nobody)
    wait_sleeping(w.pid)
    waiting_owner = os.stat(f"/proc/{w.pid}/status").st_uid
    w.release()
    deadline = time.monotonic() + 5
    while os.readlink(f"/proc/{w.pid}/exe") != os.path.realpath(BUSYBOX):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    running_owner = os.stat(f"/proc/{w.pid}/status").st_uid
    os.kill(w.pid, 9)
    w.finish()
    if used is not stub:
        used.close()
    assert (waiting_owner, running_owner) == (0, nobody)


@pytest.mark.parametrize("argv0", ["ociwaiter", "ocistu", "/usr/bin/python3", "x"])
def test_any_other_argv0_runs_nothing(stub: execstub.ExecStub, argv0: str) -> None:
    # As the interpreter of a `#!/proc/self/exe` script, argv[0] is the interpreter's path.
    for argv in ([argv0, "0", "0", "0", BUSYBOX, "echo", "ran"], [argv0, BUSYBOX, "echo", "ran"]):
        result = subprocess.run(
            argv, executable=f"/proc/self/fd/{stub.fd}", pass_fds=(stub.fd,), capture_output=True, text=True
        )
        assert (result.returncode, result.stdout) == (127, "")


def test_the_exec_mode_still_execs_at_once(stub: execstub.ExecStub) -> None:
    result = subprocess.run(
        stub.argv(BUSYBOX, ["echo", "direct"]), executable=f"/proc/self/fd/{stub.fd}", pass_fds=(stub.fd,),
        capture_output=True, text=True,
    )  # fmt: skip
    assert (result.returncode, result.stdout) == (0, "direct\n")
