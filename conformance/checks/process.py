"""config.md Process: cwd, consoleSize, rlimits, capabilities warnings, oomScoreAdj."""

from __future__ import annotations

from pathlib import Path

from conformance.harness import Ctx, check, expect


@check("process.cwd")
def cwd(ctx: Ctx) -> None:
    """process.cwd is the working directory; a relative cwd is invalid and fails create."""
    c = ctx.container()
    c.config["process"]["cwd"] = "/tmp"
    probe = c.run_probe()
    expect(probe["cwd"] == "/tmp", f"cwd is {probe['cwd']!r}, not /tmp")
    c = ctx.container()
    c.config["process"]["cwd"] = "tmp"
    ctx.expect_create_error(c, "a relative process.cwd")


@check("process.console-size-ignored")
def console_size_ignored(ctx: Ctx) -> None:
    """consoleSize with terminal false is ignored: the container runs without a terminal."""
    c = ctx.container()
    c.config["process"]["consoleSize"] = {"height": 25, "width": 80}
    c.config["process"]["args"] += ["[ -t 1 ] && echo tty || echo notty"]
    expect(c.run_probe().cmd(0)[1].strip() == "notty", "stdout is a terminal")


@check("process.rlimits")
def rlimits(ctx: Ctx) -> None:
    """Each rlimit is readable in the container with soft and hard exactly as configured."""
    c = ctx.container()
    c.config["process"]["rlimits"] = [
        {"type": "RLIMIT_NOFILE", "soft": 1021, "hard": 1022},
        {"type": "RLIMIT_NPROC", "soft": 1234, "hard": 2345},
        {"type": "RLIMIT_CORE", "soft": 4096, "hard": 8192},
    ]
    limits = c.run_probe().limits()
    for name, want in (("Max open files", ("1021", "1022")), ("Max processes", ("1234", "2345"))):
        expect(limits.get(name) == want, f"{name} is {limits.get(name)}, not {want}")
    expect(limits.get("Max core file size") == ("4096", "8192"), f"core is {limits.get('Max core file size')}")


@check("process.rlimits-invalid")
def rlimits_invalid(ctx: Ctx) -> None:
    """An rlimit type with no kernel mapping fails create."""
    c = ctx.container()
    c.config["process"]["rlimits"] = [{"type": "RLIMIT_CONFORMANCE", "soft": 1, "hard": 1}]
    ctx.expect_create_error(c, "rlimit type RLIMIT_CONFORMANCE")


@check("process.rlimits-duplicate")
def rlimits_duplicate(ctx: Ctx) -> None:
    """Two rlimits of the same type fail create."""
    c = ctx.container()
    c.config["process"]["rlimits"] = [
        {"type": "RLIMIT_NOFILE", "soft": 100, "hard": 100},
        {"type": "RLIMIT_NOFILE", "soft": 200, "hard": 200},
    ]
    ctx.expect_create_error(c, "a duplicated RLIMIT_NOFILE")


def unknown_capability(ctx: Ctx) -> tuple[int, str]:
    c = ctx.container()
    for kind in ("bounding", "effective", "permitted"):
        c.config["process"]["capabilities"][kind].append("CAP_CONFORMANCE_BOGUS")
    log = ctx.dir / "runtime.log"
    c.write_config()
    with open(c.out, "wb") as out:
        result = ctx.runtime(
            "create", "--bundle", str(c.bundle), c.id, stdout=out, stderr=out, global_args=["--log", str(log)]
        )
    text = c.output_text() + (log.read_text(errors="replace") if log.exists() else "")
    return result.returncode, text


@check("process.capabilities-unknown-logged")
def capabilities_unknown_logged(ctx: Ctx) -> None:
    """A capability name with no kernel mapping is reported (named in the runtime's output or log)."""
    _rc, text = ctx.suite.cached("unknown-cap", unknown_capability)
    expect("CAP_CONFORMANCE_BOGUS" in text, "nothing in the runtime's output or log names CAP_CONFORMANCE_BOGUS")


@check("process.capabilities-unknown-not-fatal")
def capabilities_unknown_not_fatal(ctx: Ctx) -> None:
    """A capability that cannot be granted does not make create fail (SHOULD)."""
    rc, text = ctx.suite.cached("unknown-cap", unknown_capability)
    expect(rc == 0, f"create failed: {text.strip()[-200:]}")


@check("process.oom-score-adj")
def oom_score_adj(ctx: Ctx) -> None:
    """process.oomScoreAdj is written to the process's oom_score_adj."""
    c = ctx.container()
    c.config["process"]["oomScoreAdj"] = 123
    value = c.run_probe()["oom_score_adj"].strip()
    expect(value == "123", f"oom_score_adj is {value}, not 123")


@check("process.oom-score-adj-unset")
def oom_score_adj_unset(ctx: Ctx) -> None:
    """Without oomScoreAdj, the container keeps the caller's oom_score_adj."""
    own = Path("/proc/self/oom_score_adj")
    saved = own.read_text().strip()
    own.write_text("17")
    try:
        c = ctx.container()
        value = c.run_probe()["oom_score_adj"].strip()
    finally:
        own.write_text(saved)
    expect(value == "17", f"oom_score_adj is {value}, not the caller's 17")
