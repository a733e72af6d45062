"""The console's HTTP server: uvicorn on a thread of the daemon, stopped with it."""

from __future__ import annotations

import logging
import threading
import time

from bodycam_ingest.errors import StorageError
from bodycam_ingest.station import Station
from bodycam_ingest.web.settings import WebConfig

log = logging.getLogger("bodycam.web")


class WebServer:
    def __init__(self, station: Station, settings: WebConfig) -> None:
        import uvicorn

        from bodycam_ingest.web.app import make_app

        self.settings = settings
        config = uvicorn.Config(
            make_app(station, settings), host=settings.host, port=settings.port,
            ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
            ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
            log_level="warning", lifespan="off", access_log=False, proxy_headers=False,
            server_header=False, timeout_keep_alive=5, limit_concurrency=256)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="web", daemon=True)

    def start(self) -> None:
        """Listen, or raise StorageError naming the address (taken, not allowed)."""
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive():
                raise StorageError(path=self.settings.listen, reason="the console cannot listen "
                                   "there (address in use, or not allowed); change [web] listen")
            if time.monotonic() > deadline:
                raise StorageError(path=self.settings.listen, reason="the console did not start "
                                   "within 30 s")
            time.sleep(0.02)
        scheme = "https" if self.settings.tls else "http"
        log.info("console listening on %s://%s", scheme, self.settings.listen)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
