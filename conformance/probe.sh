#!/bin/sh
# conformance probe: runs inside the container (busybox sh, no python) and prints ONE JSON object
# describing what the container process sees. Extra arguments are shell commands; each one's output
# and exit status is reported under "cmds" in order.
#
# Credentials and capabilities are read by shell builtins in a forked subshell (fork keeps them);
# an exec'd helper such as cat would not show ambient-less capabilities of a non-root process.

js() {
    # stdin -> JSON string body (without quotes)
    tr -d '\000-\010\013\014\016-\037' | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/\t/\\t/g' -e 's/\r/\\r/g' |
        awk 'NR > 1 { printf "\\n" } { printf "%s", $0 }'
}

builtin_cat() {
    while IFS= read -r line || [ -n "$line" ]; do
        printf '%s\n' "$line"
    done < "$1"
}

SEP=
field() {
    # field NAME COMMAND...: "NAME":"<output of COMMAND, stderr included>"
    name=$1
    shift
    printf '%s"%s":"' "$SEP" "$name"
    SEP=,
    "$@" 2>&1 | js
    printf '"'
}

ns_links() {
    for n in cgroup ipc mnt net pid pid_for_children time user uts; do
        printf '%s=%s\n' "$n" "$(readlink "/proc/self/ns/$n" 2>/dev/null)"
    done
}

fd_links() {
    for f in /dev/fd /dev/stdin /dev/stdout /dev/stderr /dev/ptmx; do
        if [ -L "$f" ]; then
            printf '%s=link:%s\n' "$f" "$(readlink "$f")"
        elif [ -e "$f" ]; then
            printf '%s=file\n' "$f"
        else
            printf '%s=missing\n' "$f"
        fi
    done
}

printf '{"pid":%s' "$$"
SEP=,
field status builtin_cat /proc/self/status
field id id
field mountinfo builtin_cat /proc/self/mountinfo
field limits builtin_cat /proc/self/limits
field ns ns_links
field cgroup builtin_cat /proc/self/cgroup
field hostname hostname
field domainname builtin_cat /proc/sys/kernel/domainname
field cwd pwd
field env env
field umask umask
field oom_score_adj builtin_cat /proc/self/oom_score_adj
field devlinks fd_links
printf ',"cmds":['
CSEP=
for cmd in "$@"; do
    out=$(sh -c "$cmd" 2>&1)
    rc=$?
    printf '%s{"rc":%s,"out":"' "$CSEP" "$rc"
    CSEP=,
    printf '%s' "$out" | js
    printf '"}'
done
printf ']}\n'
