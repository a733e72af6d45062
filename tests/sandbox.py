"""Run a process under the restrictions of a systemd unit file, without systemd (not PID 1 here).

Parsed from the unit and applied for real: ``User=``/``Group=`` and ``AmbientCapabilities=`` /
``CapabilityBoundingSet=`` and ``NoNewPrivileges=`` by setpriv(1); ``SystemCallFilter=`` (with its
@groups expanded by ``systemd-analyze syscall-filter``, the very tables systemd uses) and
``UMask=`` by ``seccomp_exec.py`` under the system Python with libseccomp. Not applied: the mount
namespace settings (ProtectSystem=, PrivateTmp=, ...) and the device cgroup.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
SYSTEM_PYTHON = "/usr/bin/python3"


def parse_unit(text: str) -> dict[str, list[str]]:
    """Every ``Key=value`` of the [Service] section, values in order (a key may repeat)."""
    section, found = "", {}  # type: ignore[var-annotated]
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]" and "=" in line:
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


@cache
def syscall_group(name: str) -> frozenset[str]:
    """The syscalls of ``@group`` as systemd expands them (nested groups included)."""
    out = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager", name],
                         capture_output=True, text=True, check=True).stdout
    names: set[str] = set()
    for line in out.splitlines()[1:]:
        item = line.strip()
        if not item or item.startswith("#"):
            continue
        names |= syscall_group(item) if item.startswith("@") else {item}
    return frozenset(names)


def allowed_syscalls(filters: list[str]) -> set[str]:
    """systemd's rule: the first SystemCallFilter= decides allow- or deny-list; later lines add
    (allow) or remove (``~``) names."""
    allowed: set[str] = set()
    for index, value in enumerate(filters):
        invert = value.startswith("~")
        if index == 0 and invert:
            raise ValueError("a deny-list unit is not modelled here; the station's is an allow-list")
        items: set[str] = set()
        for item in value.lstrip("~").split():
            items |= syscall_group(item) if item.startswith("@") else {item}
        allowed = allowed - items if invert else allowed | items
    # systemd never filters these (src/shared/seccomp-util.c: the "always allowed" list)
    return allowed | {"execve", "exit", "exit_group", "getrlimit", "rt_sigreturn", "sigreturn"}


def _caps(values: list[str]) -> str:
    caps = [c.lower().removeprefix("cap_") for v in values for c in v.split()]
    return ",".join(["-all", *(f"+{c}" for c in caps)])


def wrap(argv: list[str], unit: Path, workdir: Path) -> list[str]:
    """``argv`` as the unit would run it (see the module for what is applied); ``workdir`` must
    be readable by the unit's user (it receives the filter and its loader)."""
    if not shutil.which("setpriv") or not Path(SYSTEM_PYTHON).exists():
        raise FileNotFoundError("setpriv and /usr/bin/python3 are needed")
    conf = parse_unit(unit.read_text())
    allowed = workdir / "syscalls.allowed"
    allowed.write_text("\n".join(sorted(allowed_syscalls(conf["SystemCallFilter"]))) + "\n")
    allowed.chmod(0o644)
    user, group = conf["User"][-1], conf.get("Group", conf["User"])[-1]
    _unit_directories(conf, user, group)
    ambient = _caps(conf.get("AmbientCapabilities", [""]))
    cmd = ["setpriv", "--reuid", user, "--regid", group, "--init-groups",
           "--inh-caps", ambient, "--ambient-caps", ambient,
           "--bounding-set", _caps(conf.get("CapabilityBoundingSet", [""]))]
    if conf.get("NoNewPrivileges", ["no"])[-1] in ("yes", "true", "1"):
        cmd.append("--no-new-privs")
    umask = conf.get("UMask", ["0022"])[-1]
    loader = workdir / "seccomp_exec.py"  # a copy the service user can read, wherever the clone is
    shutil.copy(HERE / "seccomp_exec.py", loader)
    loader.chmod(0o644)
    return [*cmd, "--", SYSTEM_PYTHON, str(loader), str(allowed), umask, "--", *argv]


def _unit_directories(conf: dict[str, list[str]], user: str, group: str) -> None:
    """What systemd does before ExecStart: RuntimeDirectory= under /run and StateDirectory= under
    /var/lib, owned by the unit's user with the unit's modes (the daemon's API socket lives in
    the runtime directory)."""
    import grp
    import os
    import pwd

    uid, gid = pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid
    for key, base in (("RuntimeDirectory", Path("/run")), ("StateDirectory", Path("/var/lib"))):
        mode = int(conf.get(f"{key}Mode", ["0755"])[-1], 8)
        for name in " ".join(conf.get(key, [])).split():
            path = base / name
            path.mkdir(parents=True, exist_ok=True)
            os.chown(path, uid, gid)
            path.chmod(mode)


def seccomp_available() -> bool:
    return subprocess.run([SYSTEM_PYTHON, "-c", "import seccomp"], capture_output=True,
                          check=False).returncode == 0


__all__ = ["allowed_syscalls", "parse_unit", "re", "seccomp_available", "wrap"]
