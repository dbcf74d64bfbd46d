#!/bin/sh
# startContainer hook: runs INSIDE the container after pivot_root, so it is a busybox script copied into
# the container's rootfs (as /start-hook.sh), logging to a directory bind-mounted from the host (/hooklog).
# One JSON line: phase, argv ($0 and args), the mount namespace, pid 1's cmdline, the state from stdin.
# $HOOK_EXIT (default 0): the exit status; $HOOK_STDERR: a message on stderr first.
state=$(cat)
[ -n "$state" ] || state=null
mnt=$(readlink /proc/self/ns/mnt)
init=$(tr '\0' ' ' < /proc/1/cmdline)
printf '{"phase":"startContainer","argv":"%s","mnt":"%s","init_cmdline":"%s","pid":%s,"state":%s}\n' \
    "$0 $*" "$mnt" "$init" "$$" "$state" >> /hooklog/hooks.log
[ -z "$HOOK_STDERR" ] || echo "$HOOK_STDERR" >&2
exit "${HOOK_EXIT:-0}"
