"""Linux signal numbers by name, without the `signal` module. PURE: importing this touches nothing.

`import signal` costs about 3 ms (it builds its enums with `enum`), on every `kill`, `start` and
`delete` an engine makes, which only need the numbers. So the runtime keeps its own table.

The names are those Python's `signal.Signals` has on Linux (its aliases SIGIOT, SIGCLD and SIGPOLL
included), the numbers those of <asm-generic/signal.h>, the same on x86_64 and aarch64. SIGRTMIN and
SIGRTMAX are the values glibc reports (34 and 64: glibc keeps 32 and 33 for its own threads), as runc
and Python use them. tests/unit/test_signals.py compares the whole table with the running Python's
`signal` module.
"""

from __future__ import annotations

SIGNALS: dict[str, int] = {
    "SIGHUP": 1,
    "SIGINT": 2,
    "SIGQUIT": 3,
    "SIGILL": 4,
    "SIGTRAP": 5,
    "SIGABRT": 6,
    "SIGIOT": 6,
    "SIGBUS": 7,
    "SIGFPE": 8,
    "SIGKILL": 9,
    "SIGUSR1": 10,
    "SIGSEGV": 11,
    "SIGUSR2": 12,
    "SIGPIPE": 13,
    "SIGALRM": 14,
    "SIGTERM": 15,
    "SIGSTKFLT": 16,
    "SIGCHLD": 17,
    "SIGCLD": 17,
    "SIGCONT": 18,
    "SIGSTOP": 19,
    "SIGTSTP": 20,
    "SIGTTIN": 21,
    "SIGTTOU": 22,
    "SIGURG": 23,
    "SIGXCPU": 24,
    "SIGXFSZ": 25,
    "SIGVTALRM": 26,
    "SIGPROF": 27,
    "SIGWINCH": 28,
    "SIGIO": 29,
    "SIGPOLL": 29,
    "SIGPWR": 30,
    "SIGSYS": 31,
    "SIGRTMIN": 34,
    "SIGRTMAX": 64,
}

SIGKILL = SIGNALS["SIGKILL"]
SIGRTMIN = SIGNALS["SIGRTMIN"]
SIGRTMAX = SIGNALS["SIGRTMAX"]
