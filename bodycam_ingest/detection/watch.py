"""Watch folders: cameras that something else mounts (a vendor cradle, an automounter).

Each immediate subfolder of a watch folder is one camera. Filesystem events under it re-arm a
settle timer; when the folder has been quiet for ``settle_seconds`` it is reported, so a cradle that
is still copying is not ingested half-way (and anything that arrives later is picked up by the next
report: ingest skips what it already has).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

log = logging.getLogger("bodycam.watch")


@dataclass(frozen=True)
class FolderDock:
    path: Path
    rule_name: str
    watch_root: Path


def camera_folder(watch_root: Path, event_path: str) -> Path | None:
    """The camera folder an event belongs to: the first component below the watch root (pure)."""
    try:
        relative = Path(event_path).relative_to(watch_root)
    except ValueError:
        return None
    if not relative.parts or relative.parts[0].startswith("."):
        return None
    return watch_root / relative.parts[0]


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: FolderWatcher, root: Path, rule_name: str) -> None:
        self.watcher, self.root, self.rule_name = watcher, root, rule_name

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):  # reads (ours too) change nothing
            return
        for raw in (event.src_path, getattr(event, "dest_path", "")):
            path = raw.decode() if isinstance(raw, bytes) else raw
            folder = camera_folder(self.root, path) if path else None
            if folder is not None:
                self.watcher.touch(FolderDock(folder, self.rule_name, self.root))


class FolderWatcher:
    def __init__(self, folders: list[tuple[Path, str]], settle_seconds: float,
                 on_dock: Callable[[FolderDock], None]) -> None:
        self.folders = folders
        self.settle = settle_seconds
        self.on_dock = on_dock
        self._timers: dict[Path, threading.Timer] = {}
        self._lock = threading.Lock()
        self._observer: Observer | None = None  # type: ignore[valid-type]

    def touch(self, dock: FolderDock) -> None:
        with self._lock:
            previous = self._timers.pop(dock.path, None)
            if previous is not None:
                previous.cancel()
            timer = threading.Timer(self.settle, self._fire, args=(dock,))
            timer.daemon = True
            timer.name = f"settle-{dock.path.name}"
            self._timers[dock.path] = timer
            timer.start()

    def _fire(self, dock: FolderDock) -> None:
        with self._lock:
            self._timers.pop(dock.path, None)
        if dock.path.is_dir():
            log.info("camera folder settled: %s (rule %s)", dock.path, dock.rule_name)
            self.on_dock(dock)

    def existing(self) -> list[FolderDock]:
        found = []
        for root, rule_name in self.folders:
            if root.is_dir():
                found += [FolderDock(child, rule_name, root) for child in sorted(root.iterdir())
                          if child.is_dir() and not child.name.startswith(".")]
        return found

    def start(self) -> None:
        observer = Observer()
        for root, rule_name in self.folders:
            root.mkdir(parents=True, exist_ok=True)
            observer.schedule(_Handler(self, root, rule_name), str(root), recursive=True)
        observer.daemon = True
        observer.start()
        self._observer = observer

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None
        with self._lock:
            for timer in self._timers.values():
                timer.cancel()
            self._timers.clear()
