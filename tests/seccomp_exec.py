"""Load a seccomp allow-list (one syscall name per line in ARGV[1]), set the umask, exec the rest.

Run with the system Python (``/usr/bin/python3``), which has libseccomp's bindings
(``python3-seccomp``), as the last step of ``tests/sandbox.py``'s command line, after setpriv has
set the user, the capabilities and no-new-privileges. A syscall outside the list kills the process
with SIGSYS, as systemd's SystemCallFilter= does without SystemCallErrorNumber=.

    /usr/bin/python3 seccomp_exec.py ALLOWED_FILE UMASK -- PROGRAM ARGS...
"""

import os
import sys

import seccomp


def main() -> None:
    allowed_file, umask, sep, *argv = sys.argv[1:]
    assert sep == "--" and argv, __doc__
    with open(allowed_file, encoding="ascii") as handle:
        names = [line.strip() for line in handle if line.strip()]
    rules = seccomp.SyscallFilter(defaction=seccomp.KILL_PROCESS)
    unknown = []
    for name in names:
        try:
            rules.add_rule(seccomp.ALLOW, name)
        except (RuntimeError, ValueError, OSError):
            unknown.append(name)  # a name this architecture or libseccomp does not know
    os.umask(int(umask, 8))
    rules.load()
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main()
