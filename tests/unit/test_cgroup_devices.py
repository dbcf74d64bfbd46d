"""Device rules (ociruntime.cgroups.devices): the effective list, the v1 emulation and the eBPF program."""

from __future__ import annotations

import struct

import pytest

from ociruntime.cgroups import devices as d

DOCKER = [
    {"allow": False, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
    {"allow": False, "type": "c", "major": 10, "minor": 229, "access": "rwm"},
]


def decide(items: list[dict[str, object]] | None, kind: str, major: int, minor: int, access: str) -> bool:
    default_allow, exceptions = d.emulate(d.effective_rules(items))
    return d.evaluate(d.program(default_allow, exceptions), kind, major, minor, access)


def test_effective_rules_put_defaults_after_the_last_deny_all() -> None:
    rules = d.effective_rules(DOCKER)
    assert rules[0] == d.Rule(allow=False)
    assert rules[1] == d.Rule(allow=False)  # the config's own deny-all
    assert rules[2 : 2 + len(d.DEFAULT_ALLOWED)] == list(d.DEFAULT_ALLOWED)
    assert rules[-1] == d.Rule(False, "c", 10, 229, "rwm")


def test_v1_lines() -> None:
    lines = d.v1_writes([d.Rule(False), d.Rule(True, "c", 136, d.WILDCARD, "rwm"), d.Rule(True, "a", 1, 3, "r")])
    assert lines == [
        ("devices.deny", "a"),
        ("devices.allow", "c 136:* rwm"),
        ("devices.allow", "c 1:3 r"),
        ("devices.allow", "b 1:3 r"),
    ]


def test_emulation_matches_what_runc_leaves_in_devices_list() -> None:
    default_allow, exceptions = d.emulate(d.effective_rules(None))
    assert not default_allow
    listed = {f"{r.kind} {d._num(r.major)}:{d._num(r.minor)} {r.access}" for r in exceptions}
    # `cat devices.list` of a runc 1.1.5 container on this host, no devices in its config
    runc = (
        "b *:* m,c *:* m,c 1:3 rwm,c 1:5 rwm,c 1:7 rwm,c 1:8 rwm,c 1:9 rwm,c 5:0 rwm,c 5:2 rwm,c 10:200 rwm,c 136:* rwm"
    )
    assert listed == set(runc.split(","))


def test_emulation_deny_takes_access_away() -> None:
    _, exceptions = d.emulate([d.Rule(False), d.Rule(True, "c", 1, 5, "rwm"), d.Rule(False, "c", 1, 5, "w")])
    assert exceptions == [d.Rule(True, "c", 1, 5, "rm")]
    _, exceptions = d.emulate([d.Rule(True), d.Rule(False, "b", 8, 0, "w")])
    assert exceptions == [d.Rule(False, "b", 8, 0, "w")]


@pytest.mark.parametrize(
    ("request_", "allowed"),
    [
        (("c", 1, 3, "rw"), True),  # /dev/null, a default
        (("c", 1, 5, "r"), True),  # allowed by docker's own rule
        (("c", 10, 229, "rw"), False),  # fuse, denied by docker's last rule
        (("c", 4, 1, "m"), True),  # mknod of anything (default c *:* m)
        (("c", 4, 1, "r"), False),
        (("b", 8, 0, "r"), False),
        (("c", 136, 7, "rw"), True),  # pts
    ],
)
def test_program_decides_like_v1(request_: tuple[str, int, int, str], allowed: bool) -> None:
    assert decide(DOCKER, *request_) is allowed


def test_explicit_deny_of_a_default_device_wins_but_mknod_stays() -> None:
    items = [{"allow": False, "access": "rwm"}, {"allow": False, "type": "c", "major": 1, "minor": 5, "access": "rwm"}]
    assert decide(items, "c", 1, 5, "r") is False
    assert decide(items, "c", 1, 5, "m") is True
    assert decide(items, "c", 1, 3, "rw") is True


def test_allow_all_default_with_deny_exception() -> None:
    items = [{"allow": True, "access": "rwm"}, {"allow": False, "type": "b", "major": 8, "minor": 0, "access": "w"}]
    assert decide(items, "b", 8, 0, "rw") is False
    assert decide(items, "b", 8, 0, "r") is True
    assert decide(items, "b", 8, 1, "rw") is True


def test_encoding_is_struct_bpf_insn() -> None:
    code = d.encode([(d.BPF_LDX_MEM_W, d.R4, d.R1, 4, 0), (d.BPF_JMP_EXIT, 0, 0, 0, 0)])
    assert code == struct.pack("<BBhi", 0x61, 0x14, 4, 0) + struct.pack("<BBhi", 0x95, 0, 0, 0)
    program = d.program(*d.emulate(d.effective_rules(DOCKER)))
    assert len(d.encode(program)) == 8 * len(program)
    assert program[-1] == (d.BPF_JMP_EXIT, 0, 0, 0, 0)
    # every jump lands inside the program
    for pc, (code_, _dst, _src, off, _imm) in enumerate(program):
        if code_ in (d.BPF_JMP_JNE_K, d.BPF_JMP_JNE_X, d.BPF_JMP_JEQ_K):
            assert 0 < pc + 1 + off < len(program)
