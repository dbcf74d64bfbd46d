"""Device access rules: the effective list, as v1 devices.allow/deny lines and as a v2 eBPF program. PURE.

The effective list is runc's: deny everything, the config's rules, and runc's default allowed devices
(/dev/null, zero, full, random, urandom, tty, ptmx, pts, tun and mknod of anything). One difference: runc
appends the defaults after the config's rules, so a config that denies /dev/zero gets it re-allowed; we
insert them right after the config's last deny-everything rule, so an explicit deny of a default device
takes effect while a config that starts with "deny all" (podman, docker) still gets the defaults.

On cgroup v2 the rules become a BPF_PROG_TYPE_CGROUP_DEVICE program (include/uapi/linux/bpf.h): the
kernel calls it with struct bpf_cgroup_dev_ctx {u32 access_type; u32 major; u32 minor} for every open or
mknod of a device node, and it returns 1 to allow, 0 to deny. The program encodes what the v1 kernel
would have made of the same list (`emulate`), so a rule means the same on both versions: denying
`c 1:5 rwm` after the defaults takes away read and write of /dev/zero but not `c *:* m`, so the node
can still be created.
"""

from __future__ import annotations

import struct

from ociruntime.values import Value

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from typing import Any

WILDCARD = -1


class Rule(Value):
    __slots__ = ("allow", "kind", "major", "minor", "access")

    def __init__(
        self, allow: bool, kind: str = "a", major: int = WILDCARD, minor: int = WILDCARD, access: str = "rwm"
    ) -> None:
        self.allow = allow
        self.kind = kind  # a (all), c or b
        self.major = major
        self.minor = minor
        self.access = access

    @property
    def matches_everything(self) -> bool:
        return self.kind == "a" and self.major == WILDCARD and self.minor == WILDCARD and set(self.access) >= set("rwm")


def _allow(kind: str, major: int, minor: int, access: str = "rwm") -> Rule:
    return Rule(True, kind, major, minor, access)


# runc 1.1's AllowedDevices (libcontainer/specconv), checked against `devices.list` of a runc container.
DEFAULT_ALLOWED: tuple[Rule, ...] = (
    _allow("c", WILDCARD, WILDCARD, "m"),
    _allow("b", WILDCARD, WILDCARD, "m"),
    _allow("c", 1, 3),  # null
    _allow("c", 1, 8),  # random
    _allow("c", 1, 7),  # full
    _allow("c", 5, 0),  # tty
    _allow("c", 1, 5),  # zero
    _allow("c", 1, 9),  # urandom
    _allow("c", 136, WILDCARD),  # pts
    _allow("c", 5, 2),  # ptmx
    _allow("c", 10, 200),  # net/tun
)


def parse_rules(items: list[dict[str, Any]] | None) -> list[Rule]:
    rules = []
    for d in items or []:
        major = d.get("major")
        minor = d.get("minor")
        rules.append(
            Rule(
                allow=bool(d.get("allow")),
                kind=d.get("type") or "a",
                major=WILDCARD if major is None else int(major),
                minor=WILDCARD if minor is None else int(minor),
                access=d.get("access") or "rwm",
            )
        )
    return rules


def effective_rules(items: list[dict[str, Any]] | None) -> list[Rule]:
    config = parse_rules(items)
    last_deny_all = max((i for i, r in enumerate(config) if r.matches_everything and not r.allow), default=-1)
    split = last_deny_all + 1
    return [Rule(allow=False), *config[:split], *DEFAULT_ALLOWED, *config[split:]]


# --- cgroup v1 --------------------------------------------------------------------------------------


def v1_writes(rules: list[Rule]) -> list[tuple[str, str]]:
    """(file, line) for devices.allow / devices.deny, in order.

    The kernel takes "a" alone as "all devices" (it resets the exception list); type "a" with a number
    has no v1 spelling, so it becomes one line for char and one for block devices.
    """
    out: list[tuple[str, str]] = []
    for r in rules:
        name = "devices.allow" if r.allow else "devices.deny"
        if r.matches_everything:
            out.append((name, "a"))
            continue
        for kind in ("c", "b") if r.kind == "a" else (r.kind,):
            out.append((name, f"{kind} {_num(r.major)}:{_num(r.minor)} {r.access}"))
    return out


def _num(n: int) -> str:
    return "*" if n == WILDCARD else str(n)


# --- cgroup v2: the eBPF program -------------------------------------------------------------------

# include/uapi/linux/bpf.h and bpf_common.h
BPF_LDX_MEM_W = 0x61  # BPF_LDX | BPF_MEM | BPF_W: dst = *(u32 *)(src + off)
BPF_ALU_AND_K = 0x54  # BPF_ALU | BPF_AND | BPF_K: dst &= imm (32 bit)
BPF_ALU_RSH_K = 0x74  # BPF_ALU | BPF_RSH | BPF_K: dst >>= imm (32 bit)
BPF_ALU_MOV_X = 0xBC  # BPF_ALU | BPF_MOV | BPF_X: dst = src (32 bit)
BPF_ALU64_MOV_K = 0xB7  # BPF_ALU64 | BPF_MOV | BPF_K: dst = imm
BPF_JMP_JNE_K = 0x55  # if dst != imm goto pc + 1 + off
BPF_JMP_JNE_X = 0x5D  # if dst != src goto pc + 1 + off
BPF_JMP_JEQ_K = 0x15  # if dst == imm goto pc + 1 + off
_JUMPS = (BPF_JMP_JNE_K, BPF_JMP_JNE_X, BPF_JMP_JEQ_K)
BPF_JMP_EXIT = 0x95

BPF_DEVCG_DEV_BLOCK = 1
BPF_DEVCG_DEV_CHAR = 2
BPF_DEVCG_ACC_MKNOD = 1
BPF_DEVCG_ACC_READ = 2
BPF_DEVCG_ACC_WRITE = 4

R0, R1, R2, R3, R4, R5 = range(6)

Insn = tuple[int, int, int, int, int]  # code, dst, src, off, imm


def _access_bits(access: str) -> int:
    bits = 0
    for ch, bit in (("r", BPF_DEVCG_ACC_READ), ("w", BPF_DEVCG_ACC_WRITE), ("m", BPF_DEVCG_ACC_MKNOD)):
        if ch in access:
            bits |= bit
    return bits


def emulate(rules: list[Rule]) -> tuple[bool, list[Rule]]:
    """What the v1 kernel makes of writing `rules` in order: (allow by default?, exceptions).

    security/device_cgroup.c: "a" sets the default and clears the exceptions; any other rule that goes
    against the default adds an exception (merging access bits with an exact match), and one that agrees
    with the default takes its access bits away from an exact match. runc feeds its eBPF program from the
    same emulation, so v1 and v2 containers see one meaning of the list. A new cgroup starts as its parent:
    allow all.
    """
    default_allow = True
    exceptions: dict[tuple[str, int, int], set[str]] = {}
    for rule in rules:
        if rule.matches_everything:
            default_allow = rule.allow
            exceptions.clear()
            continue
        for kind in ("c", "b") if rule.kind == "a" else (rule.kind,):
            key = (kind, rule.major, rule.minor)
            if rule.allow != default_allow:
                exceptions.setdefault(key, set()).update(rule.access)
            elif key in exceptions:
                exceptions[key] -= set(rule.access)
                if not exceptions[key]:
                    del exceptions[key]
    found = [
        Rule(not default_allow, kind, major, minor, "".join(c for c in "rwm" if c in access))
        for (kind, major, minor), access in exceptions.items()
    ]
    return default_allow, found


def program(default_allow: bool, exceptions: list[Rule]) -> list[Insn]:
    """Instructions deciding like the v1 kernel: with a deny default, a request is allowed when an
    exception covers all of its access bits; with an allow default, denied when one shares any bit.

    Registers: R2 device type, R3 requested access, R4 major, R5 minor (R1 is scratch after the loads).
    """
    insns: list[Insn] = [
        (BPF_LDX_MEM_W, R2, R1, 0, 0),
        (BPF_ALU_AND_K, R2, 0, 0, 0xFFFF),  # access_type low half: the device type
        (BPF_LDX_MEM_W, R3, R1, 0, 0),
        (BPF_ALU_RSH_K, R3, 0, 0, 16),  # access_type high half: the access bits asked for
        (BPF_LDX_MEM_W, R4, R1, 4, 0),
        (BPF_LDX_MEM_W, R5, R1, 8, 0),
    ]
    for rule in exceptions:
        insns += _rule_block(rule)
    return insns + [(BPF_ALU64_MOV_K, R0, 0, 0, 1 if default_allow else 0), (BPF_JMP_EXIT, 0, 0, 0, 0)]


def _rule_block(rule: Rule) -> list[Insn]:
    """Tests that jump past the block on a mismatch, then `return rule.allow`."""
    tests: list[Insn] = []
    if rule.kind != "a":
        kind = BPF_DEVCG_DEV_CHAR if rule.kind == "c" else BPF_DEVCG_DEV_BLOCK
        tests.append((BPF_JMP_JNE_K, R2, 0, 0, kind))
    bits = _access_bits(rule.access)
    if rule.allow:
        # An allowing exception covers the request only if it has every bit asked for: (R3 & bits) == R3.
        tests += [(BPF_ALU_MOV_X, R1, R3, 0, 0), (BPF_ALU_AND_K, R1, 0, 0, bits), (BPF_JMP_JNE_X, R1, R3, 0, 0)]
    else:
        # A denying exception hits the request if they share any bit: (R3 & bits) != 0.
        tests += [(BPF_ALU_MOV_X, R1, R3, 0, 0), (BPF_ALU_AND_K, R1, 0, 0, bits), (BPF_JMP_JEQ_K, R1, 0, 0, 0)]
    if rule.major != WILDCARD:
        tests.append((BPF_JMP_JNE_K, R4, 0, 0, rule.major))
    if rule.minor != WILDCARD:
        tests.append((BPF_JMP_JNE_K, R5, 0, 0, rule.minor))
    block_len = len(tests) + 2
    out: list[Insn] = []
    for i, (code, dst, src, _off, imm) in enumerate(tests):
        is_jump = code in _JUMPS
        out.append((code, dst, src, block_len - i - 1 if is_jump else 0, imm))
    out += [(BPF_ALU64_MOV_K, R0, 0, 0, 1 if rule.allow else 0), (BPF_JMP_EXIT, 0, 0, 0, 0)]
    return out


def encode(insns: list[Insn]) -> bytes:
    """struct bpf_insn {u8 code; u8 dst_reg:4, src_reg:4; s16 off; s32 imm;} little-endian."""
    return b"".join(struct.pack("<BBhi", code, (src << 4) | dst, off, imm) for code, dst, src, off, imm in insns)


def evaluate(insns: list[Insn], kind: str, major: int, minor: int, access: str) -> bool:
    """Run the program on one request: a tiny interpreter for the instructions above, for tests."""
    kind_bits = BPF_DEVCG_DEV_CHAR if kind == "c" else BPF_DEVCG_DEV_BLOCK
    ctx = [(_access_bits(access) << 16) | kind_bits, major, minor]
    regs = [0] * 11
    pc = 0
    while True:
        code, dst, src, off, imm = insns[pc]
        pc += 1
        if code == BPF_LDX_MEM_W:
            regs[dst] = ctx[off // 4]
        elif code == BPF_ALU_AND_K:
            regs[dst] &= imm
        elif code == BPF_ALU_RSH_K:
            regs[dst] >>= imm
        elif code == BPF_ALU_MOV_X:
            regs[dst] = regs[src]
        elif code == BPF_ALU64_MOV_K:
            regs[dst] = imm
        elif code == BPF_JMP_JNE_K:
            pc += off if regs[dst] != imm else 0
        elif code == BPF_JMP_JEQ_K:
            pc += off if regs[dst] == imm else 0
        elif code == BPF_JMP_JNE_X:
            pc += off if regs[dst] != regs[src] else 0
        elif code == BPF_JMP_EXIT:
            return regs[R0] == 1
        else:
            raise ValueError(f"unknown opcode {code:#x}")
