"""A station with its console on, real recordings and accounts, for HTTP and browser tests."""

from __future__ import annotations

import http.cookiejar
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from access_support import add_account
from helpers import BODYCAM, StationEnv, write_config

PASSWORD = "correct horse battery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def set_password(station: StationEnv, login: str, password: str = PASSWORD,
                 totp_secret: str | None = None) -> None:
    from argon2 import PasswordHasher

    with sqlite3.connect(station.db, timeout=30) as db:
        db.execute("UPDATE accounts SET password_hash = ?, totp_secret = ? WHERE login = ?",
                   (PasswordHasher().hash(password), totp_secret, login))


def totp_code(secret: str) -> str:
    import pyotp

    return str(pyotp.TOTP(secret).now())


def hevc_recording(folder: Path, name: str, seconds: int = 2) -> Path:
    """An H.265 + AAC MP4 as many cameras write (Chromium cannot play it)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", f"testsrc2=size=160x120:rate=10:duration={seconds}",
                    "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
                    "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error",
                    "-tag:v", "hvc1", "-c:a", "aac", "-shortest", str(target)], check=True)
    return target


@dataclass
class ConsoleStation:
    env: StationEnv
    port: int
    logins: dict[str, str] = field(default_factory=dict)  # login -> role
    totp: dict[str, str] = field(default_factory=dict)  # login -> TOTP secret (supervisors)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def console_station(root: Path, camera_media: Path) -> ConsoleStation:
    """Officer A1024 has 3 H.264 segments (1-3), an H.265 recording (4), a cut recording with a
    timestamp gap (6) and one made an hour ago (7); officer B2048 has one recording (5);
    accounts: zhang (officer A1024), li (officer B2048), chen (custodian), wang (supervisor),
    zhao (auditor), all with PASSWORD."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = write_config(root, camera='[[cameras]]\nname = "c"\nfs_labels = ["NO-SUCH-LABEL"]\n'
                          'recordings = ["DCIM/**/*.MP4"]\n')
    config.write_text(config.read_text() + f'\n[web]\nlisten = "127.0.0.1:{port}"\n'
                      'login_attempts = 3\n')
    env = StationEnv(root=root, config_path=config)
    camera = root / "camera-a"
    shutil.copytree(camera_media, camera, copy_function=shutil.copy2)
    hevc_recording(camera / "DCIM" / "100MEDIA", "A1024_DSJ9X001_20261120100000_0001.MP4")
    env.run("ingest", str(camera), check=True)
    other = root / "camera-b" / "DCIM" / "100MEDIA"
    other.mkdir(parents=True)
    source = next((camera / "DCIM" / "100MEDIA").glob("*0001.MP4"))
    shutil.copy2(source, other / source.name.replace("A1024", "B2048").replace("DSJ9X001",
                                                                                 "DSJ9X002"))
    with (other / source.name.replace("A1024", "B2048").replace("DSJ9X001", "DSJ9X002")
          ).open("ab") as handle:
        handle.write(b"officer B2048")
    env.run("ingest", str(other.parent.parent), check=True)
    # 6: A1024, a cut that left a hole at 1.2 s (a timestamp_gap finding to explain)
    from analysis.corpus import _forge, camera_clip

    raw, forged = root / "raw-hole", root / "camera-hole" / "DCIM" / "100MEDIA"
    raw.mkdir()
    forged.mkdir(parents=True)
    clip = camera_clip(raw, datetime(2026, 11, 20, 11, 0), 21, 4.0)
    _forge(clip, forged / clip.path.name, f"file '{clip.path}'\noutpoint 1.2\nduration 2.5\n"
           f"file '{clip.path}'\ninpoint 2.5\n")
    env.run("ingest", str(forged.parent.parent), check=True)
    # 7: A1024, recorded an hour ago: its labelling deadline (2 working days) is still ahead
    recent = datetime.now(ZoneInfo("Asia/Shanghai")) - timedelta(hours=1)
    subprocess.run([*BODYCAM, "sim-camera", str(root / "camera-today"), "--segments", "1",
                    "--officer", "A1024", "--start", f"{recent:%Y-%m-%dT%H:%M:%S}"],
                   check=True, capture_output=True)
    env.run("ingest", str(root / "camera-today"), check=True)
    station = ConsoleStation(env, port)
    for login, roles, number, name in (("zhang", ["officer"], "A1024", "张三"),
                                       ("li", ["officer"], "B2048", "李四"),
                                       ("chen", ["custodian"], None, "陈保管"),
                                       ("wang", ["supervisor"], None, "王主管"),
                                       ("zhao", ["auditor"], None, "赵审计")):
        add_account(env, login, roles, officer_number=number, display_name=name)
        secret = None
        if roles[0] == "supervisor":  # [access] totp_required_roles: admin, supervisor
            import pyotp

            secret = station.totp[login] = pyotp.random_base32()
        set_password(env, login, totp_secret=secret)
        station.logins[login] = roles[0]
    return station


class Browser:
    """A cookie-keeping HTTP client (no JavaScript) for security tests."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar),
                                                  _NoRedirect())

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        req = urllib.request.Request(self.base + path, data=body, method=method,
                                     headers=headers or {})
        try:
            with self.opener.open(req, timeout=60) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        return self.request("GET", path)

    def login(self, login: str, password: str = PASSWORD, totp: str | None = None) -> int:
        status, _, page = self.get("/login")
        token = page.decode().split('name="csrf" value="', 1)[1].split('"', 1)[0]
        form = urllib.parse.urlencode({"csrf": token, "login": login, "password": password,
                                       "totp": totp or ""})
        status, _, _ = self.request("POST", "/login", form.encode(),
                                    {"content-type": "application/x-www-form-urlencoded"})
        return status

    def csrf(self) -> str:
        _, _, page = self.get("/me")
        return page.decode().split('name="csrf" value="', 1)[1].split('"', 1)[0]

    def api(self, method: str, params: dict[str, Any], csrf: str | None
            ) -> tuple[int, dict[str, Any]]:
        headers = {"content-type": "application/json"}
        if csrf is not None:
            headers["x-csrf-token"] = csrf
        status, _, body = self.request("POST", f"/api/{method}", json.dumps(params).encode(),
                                       headers)
        return status, json.loads(body)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def chromium_path() -> str | None:
    for path in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if os.path.exists(path):
            return path
    return None


__all__ = ["BODYCAM", "PASSWORD", "Browser", "ConsoleStation", "chromium_path",
           "console_station", "hevc_recording"]
