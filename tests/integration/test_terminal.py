"""Terminals driven the way conmon and containerd's shim drive them: a receiver gets the pty master over
--console-socket, types commands and reads the answers; foreground `run`/`exec` relay a caller's tty."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import shutil
import socket
import struct
import subprocess
import tempfile
import termios
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import Bundle, BundleFactory, Runtime, new_id
from tests.integration.helpers.common import (
    cgroup_procs,
    devnull,
    one_line_failure,
    pid_alive,
    wait_for,
    wait_status,
)
from tests.integration.helpers.console_receiver import ConsoleReceiver, Terminal

pytestmark = pytest.mark.root

RUNC = shutil.which("runc")
PTS_MAJOR = 136  # Unix98 pty slaves (Documentation/admin-guide/devices.txt)


@pytest.fixture
def receiver() -> Iterator[ConsoleReceiver]:
    # Short path: sun_path holds 108 bytes, pytest's tmp_path can be longer.
    directory = Path(tempfile.mkdtemp(prefix="ocirt-console-"))
    rec = ConsoleReceiver(directory / "console.sock")
    yield rec
    rec.close()
    shutil.rmtree(directory, ignore_errors=True)


def terminal_bundle(make_bundle: BundleFactory, args: list[str], size: dict[str, int] | None = None) -> Bundle:
    bundle = make_bundle(args)
    bundle.config["process"]["terminal"] = True
    if size is not None:
        bundle.config["process"]["consoleSize"] = size
    return bundle.write()


def create_with_console(runtime: Runtime, bundle: Bundle, receiver: ConsoleReceiver) -> tuple[str, Terminal]:
    cid = new_id()
    runtime.ok("create", "-b", str(bundle.path), "--console-socket", str(receiver.path), cid, stdin=devnull())
    return cid, receiver.receive()


def stat_fields(line: str) -> dict[str, int]:
    """pid, pgrp, session, tty_nr and tpgid out of a /proc/<pid>/stat line."""
    fields = line.rpartition(")")[2].split()
    return {
        "pid": int(line.split()[0]),
        "pgrp": int(fields[2]),
        "session": int(fields[3]),
        "tty_nr": int(fields[4]),
        "tpgid": int(fields[5]),
    }


def read_stat_of_foreground_cat(term: Terminal) -> dict[str, int]:
    """`cat /proc/self/stat` run by the shell as a foreground job."""
    term.write("cat /proc/self/stat\n")
    return stat_fields(term.read_until(r"^\d+ \(cat\) R .*$").group(0))


# --- create + --console-socket -------------------------------------------------------------------------


def test_console_socket_terminal_is_the_container_pty(
    runtime: Runtime, make_bundle: BundleFactory, receiver: ConsoleReceiver, no_trace: None
) -> None:
    bundle = terminal_bundle(make_bundle, ["sh"], size={"height": 33, "width": 101})
    cid, term = create_with_console(runtime, bundle, receiver)
    try:
        assert receiver.payload == b"/dev/ptmx"  # runc sends the master's name as the payload
        runtime.ok("start", cid)
        tty_path = term.ask("tty", "TTY", r"(/dev/pts/\d+)")
        number = int(tty_path.rsplit("/", 1)[1])
        assert term.ask("stty size", "SIZE", r"(\d+ \d+)") == "33 101"
        assert term.ask("echo $$", "PID", r"(\d+)") == "1"
        # /dev/console is the same pty slave: a char device 136,N.
        term.write("ls -l /dev/console\n")
        console = term.read_until(r"^(\S+)\s+\d+\s+\S+\s+\S+\s+(\d+),\s+(\d+)\s.*/dev/console")
        assert console.group(1).startswith("c")
        assert (int(console.group(2)), int(console.group(3))) == (PTS_MAJOR, number)
        # It is our terminal from the host side too: the master we hold talks to init's stdio.
        init_pid = runtime.state(cid)["pid"]
        for fd in (0, 1, 2):
            assert os.stat(f"/proc/{init_pid}/fd/{fd}").st_rdev == os.makedev(PTS_MAJOR, number)
        term.write("exit 3\n")
        wait_status(runtime, cid, "stopped")
    finally:
        term.close()
        runtime("delete", "--force", cid)


def test_console_socket_job_control_works(
    runtime: Runtime, make_bundle: BundleFactory, receiver: ConsoleReceiver, no_trace: None
) -> None:
    """The pty is the shell's controlling terminal, so ash turns job control on: a foreground job gets
    its own process group and the terminal's foreground (tpgid), background jobs are listed and killable."""
    bundle = terminal_bundle(make_bundle, ["sh"], size={"height": 24, "width": 80})
    cid, term = create_with_console(runtime, bundle, receiver)
    try:
        runtime.ok("start", cid)
        assert term.ask("echo $-", "FLAGS", r"(\w+)").find("m") >= 0, "job control (set -m) is off"
        cat = read_stat_of_foreground_cat(term)
        assert cat["session"] == 1  # the shell (pid 1) leads the session
        assert cat["tty_nr"] >> 8 == PTS_MAJOR
        assert cat["pgrp"] == cat["pid"], "the foreground job did not get its own process group"
        assert cat["tpgid"] == cat["pgrp"], "the foreground job does not own the terminal"
        term.write("sleep 100 &\n")
        term.write("jobs; echo @@JOBS-DONE\n")
        listed = term.read_until(r"^@@JOBS-DONE").string
        assert re.search(r"\[1\]\+?\s+Running\s+sleep 100", listed), listed
        term.write("kill %1; wait\n")
        term.write("jobs; echo @@KILLED\n")
        after = term.read_until(r"^@@KILLED").string
        assert "Running" not in after, after
        assert term.ask("ps -o pid,comm | grep -c sleep", "SLEEPS", r"(\d+)") == "0"
        term.write("exit\n")
        wait_status(runtime, cid, "stopped")
    finally:
        term.close()
        runtime("delete", "--force", cid)


def test_console_socket_with_run_detach(
    runtime: Runtime, make_bundle: BundleFactory, receiver: ConsoleReceiver, no_trace: None
) -> None:
    bundle = terminal_bundle(make_bundle, ["sh"], size={"height": 10, "width": 40})
    cid = new_id()
    runtime.ok("run", "-d", "-b", str(bundle.path), "--console-socket", str(receiver.path), cid, stdin=devnull())
    term = receiver.receive()
    try:
        assert re.fullmatch(r"/dev/pts/\d+", term.ask("tty", "TTY", r"(/dev/pts/\d+)"))
        assert term.ask("stty size", "SIZE", r"(\d+ \d+)") == "10 40"
    finally:
        term.close()
        runtime("delete", "--force", cid)


# --- exec -t ---------------------------------------------------------------------------------------------


@pytest.fixture
def running(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> Iterator[tuple[str, Bundle]]:
    bundle = make_bundle(["sleep", "100"])
    cid = new_id()
    runtime.ok("run", "-d", "-b", str(bundle.path), cid, stdin=devnull())
    yield cid, bundle
    runtime("delete", "--force", cid)


def test_exec_tty_detached_with_console_socket(
    runtime: Runtime, running: tuple[str, Bundle], receiver: ConsoleReceiver, tmp_path: Path
) -> None:
    cid, bundle = running
    pid_file = tmp_path / "exec.pid"
    runtime.ok(
        "exec",
        "-t",
        "-d",
        "--console-socket",
        str(receiver.path),
        "--pid-file",
        str(pid_file),
        cid,
        "sh",
        stdin=devnull(),
    )
    term = receiver.receive()
    pid = int(pid_file.read_text())
    try:
        assert pid in cgroup_procs(bundle.cgroup)
        assert re.fullmatch(r"/dev/pts/\d+", term.ask("tty", "TTY", r"(/dev/pts/\d+)"))
        assert term.ask("echo $$", "PID", r"(\d+)") not in ("1", "")
        cat = read_stat_of_foreground_cat(term)
        assert cat["tty_nr"] >> 8 == PTS_MAJOR
        assert cat["tpgid"] == cat["pgrp"] == cat["pid"], "no job control in the exec'd shell"
        term.write("exit 4\n")
        wait_for(lambda: not pid_alive(pid), what="the exec'd shell to exit")
    finally:
        term.close()


def test_exec_process_file_console_size(
    runtime: Runtime, running: tuple[str, Bundle], receiver: ConsoleReceiver, tmp_path: Path
) -> None:
    import json

    cid, _ = running
    process = {
        "terminal": True,
        "consoleSize": {"height": 21, "width": 77},
        "user": {"uid": 0, "gid": 0},
        "args": ["sh"],
        "env": ["PATH=/bin", "TERM=xterm"],
        "cwd": "/",
    }
    process_file = tmp_path / "process.json"
    process_file.write_text(json.dumps(process))
    runtime.ok("exec", "-d", "--console-socket", str(receiver.path), "-p", str(process_file), cid, stdin=devnull())
    term = receiver.receive()
    try:
        assert term.ask("stty size", "SIZE", r"(\d+ \d+)") == "21 77"
        term.write("exit\n")
    finally:
        term.close()


def test_exec_tty_foreground_with_console_socket_passes_exit_status(
    runtime: Runtime, running: tuple[str, Bundle], receiver: ConsoleReceiver
) -> None:
    cid, _ = running
    cmd = [runtime.binary, "--root", str(runtime.root), "exec", "-t", "--console-socket", str(receiver.path), cid, "sh"]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        term = receiver.receive()
        try:
            assert re.fullmatch(r"/dev/pts/\d+", term.ask("tty", "TTY", r"(/dev/pts/\d+)"))
            term.write("exit 6\n")
            assert proc.wait(20) == 6
        finally:
            term.close()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


# --- foreground relay through the caller's terminal ------------------------------------------------------


Action = bytes | Callable[[int], None]


def drive_in_pty(
    argv: list[str], rows: int, cols: int, talk: list[tuple[str, Action]], timeout: float = 20
) -> tuple[int, bytes]:
    """Run argv with a new pty as its stdio and controlling terminal (as a user's shell would); for each
    (regex, action) in `talk`, wait until the output matches, then type `action` (bytes) or call it with
    the master fd. Returns (exit status, everything shown)."""
    pid, master = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    output = b""
    steps = list(talk)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                output += chunk
            while steps and re.search(steps[0][0].encode(), output):
                action = steps.pop(0)[1]
                if isinstance(action, bytes):
                    os.write(master, action)
                else:
                    action(master)
        else:
            raise AssertionError(f"the foreground runtime did not finish; output so far {output!r}")
    finally:
        os.close(master)
        waited, status = os.waitpid(pid, 0) if time.monotonic() < deadline else _kill_wait(pid)
    assert waited == pid
    return os.waitstatus_to_exitcode(status), output


def _kill_wait(pid: int) -> tuple[int, int]:
    os.kill(pid, 9)
    return os.waitpid(pid, 0)


def test_foreground_run_relays_a_raw_terminal(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    """`run` with process.terminal and no --console-socket holds the master itself: the caller's terminal
    goes raw (one echo, no second CR added on output), its size is copied, the exit status passes through."""
    bundle = terminal_bundle(make_bundle, ["sh", "-c", "sleep 0.5; tty; stty size; read line; echo got:$line; exit 3"])
    argv = [runtime.binary, "--root", str(runtime.root), "run", "-b", str(bundle.path), new_id()]
    status, output = drive_in_pty(argv, 40, 120, [(r"40 120\r\n", b"hello\r")])
    text = output.decode(errors="replace")
    assert status == 3, text
    assert re.search(r"^/dev/pts/\d+\r\n", text, re.MULTILINE), text
    assert "40 120\r\n" in text
    assert "\r\r\n" not in text, "the caller's terminal was not raw (its ONLCR added a CR)"
    assert text.count("hello") == 2, "echoed twice: the caller's terminal was not raw"  # echo + got:hello
    assert "got:hello\r\n" in text
    assert runtime.container_dirs() == []


def test_foreground_run_passes_window_size_changes(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None
) -> None:
    """The caller's terminal is resized (SIGWINCH to the runtime, its foreground process): the container's
    pty follows. (The first `stty size` waits a little: see the next test for why.)"""
    bundle = terminal_bundle(make_bundle, ["sh", "-c", "sleep 0.5; stty size; read line; stty size"])

    def resize(master: int) -> None:
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
        time.sleep(0.3)
        os.write(master, b"go\r")

    argv = [runtime.binary, "--root", str(runtime.root), "run", "-b", str(bundle.path), new_id()]
    status, output = drive_in_pty(argv, 25, 80, [(r"25 80\r\n", resize)])
    assert status == 0, output
    assert re.search(rb"25 80\r\n.*50 160\r\n", output, re.DOTALL), output


def test_foreground_run_program_starts_with_the_callers_window_size(
    runtime: Runtime, make_bundle: BundleFactory, tmp_path: Path, no_trace: None
) -> None:
    """The program's first look at its terminal must see the caller's size. A poststart hook that sleeps
    a second makes the window deterministic: `start` (and so the relay) is held up while the program runs."""
    from tests.integration.helpers.common import HELPERS

    bundle = terminal_bundle(make_bundle, ["stty", "size"])
    bundle.config["hooks"] = {
        "poststart": [
            {"path": str(HELPERS / "hook_recorder.py"), "env": [f"HOOK_LOG={tmp_path / 'hooks.log'}", "HOOK_SLEEP=1"]}
        ]
    }
    bundle.write()
    argv = [runtime.binary, "--root", str(runtime.root), "run", "-b", str(bundle.path), new_id()]
    status, output = drive_in_pty(argv, 25, 80, [])
    assert (status, output) == (0, b"25 80\r\n")


def test_foreground_run_terminal_with_stdin_not_a_tty(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None
) -> None:
    """process.terminal without a caller tty (stdin a file): the runtime still relays the pty's output."""
    bundle = terminal_bundle(make_bundle, ["sh", "-c", "tty; echo done; exit 9"])
    result = runtime("run", "-b", str(bundle.path), new_id(), input=b"")
    assert result.returncode == 9, result.stderr
    assert re.match(r"/dev/pts/\d+\r\ndone\r\n", result.stdout), result.stdout


def test_foreground_exec_tty_relays(runtime: Runtime, running: tuple[str, Bundle]) -> None:
    cid, _ = running
    argv = [
        runtime.binary,
        "--root",
        str(runtime.root),
        "exec",
        "-t",
        cid,
        "sh",
        "-c",
        "sleep 0.5; tty; stty size; read line; echo got:$line; exit 5",
    ]
    status, output = drive_in_pty(argv, 30, 90, [(r"30 90\r\n", b"world\r")])
    text = output.decode(errors="replace")
    assert status == 5, text
    assert re.search(r"^/dev/pts/\d+\r\n", text, re.MULTILINE), text
    assert "got:world\r\n" in text and "\r\r\n" not in text


# --- errors ----------------------------------------------------------------------------------------------


def test_terminal_without_console_socket_fails_create(
    runtime: Runtime, make_bundle: BundleFactory, tmp_path: Path, no_trace: None
) -> None:
    bundle = terminal_bundle(make_bundle, ["sh"])
    line = one_line_failure(runtime("create", "-b", str(bundle.path), new_id(), stdin=devnull()))
    assert "console-socket" in line and "terminal" in line
    assert runtime.container_dirs() == []
    if RUNC:
        oracle = subprocess.run(
            [RUNC, "--root", str(tmp_path / "runc"), "create", "-b", str(bundle.path), new_id()],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=60,
        )
        assert oracle.returncode != 0


def test_console_socket_missing_path(
    runtime: Runtime, make_bundle: BundleFactory, tmp_path: Path, no_trace: None
) -> None:
    bundle = terminal_bundle(make_bundle, ["sh"])
    missing = tmp_path / "no-such.sock"
    line = one_line_failure(
        runtime("create", "-b", str(bundle.path), "--console-socket", str(missing), new_id(), stdin=devnull())
    )
    assert str(missing) in line
    assert runtime.container_dirs() == []


def test_console_socket_without_listener(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    bundle = terminal_bundle(make_bundle, ["sh"])
    directory = Path(tempfile.mkdtemp(prefix="ocirt-dead-"))
    dead = directory / "dead.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(dead))  # bound, never listening: connect() is refused
    try:
        line = one_line_failure(
            runtime("create", "-b", str(bundle.path), "--console-socket", str(dead), new_id(), stdin=devnull())
        )
        assert str(dead) in line
        assert "refused" in line.lower()
        assert runtime.container_dirs() == []
    finally:
        sock.close()
        shutil.rmtree(directory, ignore_errors=True)


def test_console_socket_without_terminal_is_an_error(
    runtime: Runtime, make_bundle: BundleFactory, receiver: ConsoleReceiver, no_trace: None
) -> None:
    bundle = make_bundle(["sh"])
    line = one_line_failure(
        runtime("create", "-b", str(bundle.path), "--console-socket", str(receiver.path), new_id(), stdin=devnull())
    )
    assert "terminal" in line
    assert runtime.container_dirs() == []


def test_exec_console_socket_errors(runtime: Runtime, running: tuple[str, Bundle], receiver: ConsoleReceiver) -> None:
    cid, bundle = running
    line = one_line_failure(runtime("exec", "--console-socket", str(receiver.path), cid, "true", stdin=devnull()))
    assert "terminal" in line or "tty" in line
    line = one_line_failure(runtime("exec", "-t", "-d", cid, "sh", stdin=devnull()))
    assert "console-socket" in line
    line = one_line_failure(
        runtime("exec", "-t", "--console-socket", "/nonexistent/console.sock", cid, "sh", stdin=devnull())
    )
    assert "/nonexistent/console.sock" in line
    assert cgroup_procs(bundle.cgroup) == {runtime.state(cid)["pid"]}
