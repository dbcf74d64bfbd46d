"""Linux signal numbers by name, and the calls that use them, without the `signal` module.

`import signal` costs about 3 ms (it builds its enums with `enum`), on every `kill`, `start` and
`delete` an engine makes, which only need the numbers. So the runtime keeps its own table, and takes
the few calls it makes (installing a handler, blocking, pidfd_send_signal) from the built-in `_signal`, which
`signal` only wraps in enums; importing this module touches nothing.

The names are those Python's `signal.Signals` has on Linux (its aliases SIGIOT, SIGCLD and SIGPOLL
included), the numbers those of <asm-generic/signal.h>, the same on x86_64 and aarch64. SIGRTMIN and
SIGRTMAX are the values glibc reports (34 and 64: glibc keeps 32 and 33 for its own threads), as runc
and Python use them. tests/unit/test_signals.py compares the whole table with the running Python's
`signal` module.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from signal import SIG_BLOCK, SIG_DFL, pidfd_send_signal, pthread_sigmask
    from signal import signal as set_handler
else:
    from _signal import SIG_BLOCK, SIG_DFL, pidfd_send_signal, pthread_sigmask
    from _signal import signal as set_handler

__all__ = ["SIGNALS", "SIG_BLOCK", "SIG_DFL", "pidfd_send_signal", "pthread_sigmask", "set_handler"]

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

SIGHUP = SIGNALS["SIGHUP"]
SIGINT = SIGNALS["SIGINT"]
SIGQUIT = SIGNALS["SIGQUIT"]
SIGKILL = SIGNALS["SIGKILL"]
SIGUSR1 = SIGNALS["SIGUSR1"]
SIGUSR2 = SIGNALS["SIGUSR2"]
SIGPIPE = SIGNALS["SIGPIPE"]
SIGALRM = SIGNALS["SIGALRM"]
SIGTERM = SIGNALS["SIGTERM"]
SIGCONT = SIGNALS["SIGCONT"]
SIGXFSZ = SIGNALS["SIGXFSZ"]
SIGWINCH = SIGNALS["SIGWINCH"]
SIGRTMIN = SIGNALS["SIGRTMIN"]
SIGRTMAX = SIGNALS["SIGRTMAX"]
