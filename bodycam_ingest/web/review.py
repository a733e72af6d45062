"""Pages of custodians, supervisors and auditors: findings queue, requests (four eyes), exports,
retention plan, audit, custody log, holds. Each is one or two API calls and a template."""

from __future__ import annotations

import base64
import tarfile
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from bodycam_ingest.errors import BodycamError

if TYPE_CHECKING:
    from bodycam_ingest.web.app import Console


class Review:
    def __init__(self, console: Console) -> None:
        self.console = console

    async def _page(self, request: Request, template: str, calls: dict[str, tuple[str, dict[str,
                    Any]]], **extra: Any) -> Response:
        console = self.console
        current = console.session(request)
        if current is None:
            return RedirectResponse("/login", 303)
        session, principal = current
        values: dict[str, Any] = {}
        try:
            for name, (method, params) in calls.items():
                values[name] = await console.call(principal, method, params)
        except BodycamError as exc:
            from bodycam_ingest.web.app import STATUS

            return console.page(request, "error.html", status=STATUS.get(exc.exit_status(), 500),
                                message=exc.message(), me=principal, csrf=session.csrf)
        return console.page(request, template, me=principal, csrf=session.csrf, **values,
                            **extra)

    async def findings(self, request: Request) -> Response:
        return await self._page(request, "review_findings.html",
                                {"found": ("findings.list", {"unexplained": True})})

    async def requests(self, request: Request) -> Response:
        state = request.query_params.get("state") or "pending"
        return await self._page(request, "review_requests.html", {
            "items": ("requests.list", {"state": None if state == "all" else state})},
            state=state)

    async def request_detail(self, request: Request) -> Response:
        ident = int(request.path_params["ident"])
        return await self._page(request, "review_request.html",
                                {"item": ("requests.show", {"request_id": ident})})

    async def export_form(self, request: Request) -> Response:
        return await self._page(request, "review_export.html", {})

    async def retention(self, request: Request) -> Response:
        return await self._page(request, "review_retention.html",
                                {"plan": ("retention.plan", {})})

    async def audit(self, request: Request) -> Response:
        return await self._page(request, "review_audit.html", {})

    async def log(self, request: Request) -> Response:
        params: dict[str, Any] = {}
        if request.query_params.get("recording"):
            params["recording_id"] = int(request.query_params["recording"])
        if request.query_params.get("case"):
            params["case"] = request.query_params["case"]
        return await self._page(request, "review_log.html", {"log": ("log.view", params)},
                                query=params)

    async def download(self, request: Request) -> Response:
        """An approved export as one tar stream, built from the same exports.files and
        exports.chunk calls the CLI makes (each authorized, the fetch logged)."""
        console = self.console
        current = console.session(request)
        if current is None:
            return RedirectResponse("/login", 303)
        principal = current[1]
        ident = int(request.path_params["ident"])
        try:
            listing = await console.call(principal, "exports.files", {"request_id": ident})
        except BodycamError as exc:
            from bodycam_ingest.web.app import STATUS

            return Response(exc.message(), status_code=STATUS.get(exc.exit_status(), 500))
        from bodycam_ingest.api.registry import dispatch

        def chunks(path: str) -> Iterator[bytes]:
            offset = 0
            while True:
                part = dispatch(console.station, principal, "exports.chunk",
                                {"request_id": ident, "path": path, "offset": offset})
                data = base64.b64decode(part["data"])
                yield data
                offset += len(data)
                if part["eof"] or not data:
                    return

        def stream() -> Iterator[bytes]:
            """A POSIX tar written by hand: header, the file's chunks as they come, padding;
            memory is one chunk, whatever the package's size."""
            for item in listing["files"]:
                info = tarfile.TarInfo(f"export-{ident}/{item['path']}")
                info.size, info.mtime, info.mode = item["size"], int(time.time()), 0o444
                yield info.tobuf(format=tarfile.PAX_FORMAT)
                written = 0
                for data in chunks(item["path"]):
                    written += len(data)
                    yield data
                if written != item["size"]:
                    raise RuntimeError(f"{item['path']} changed while it was sent")
                yield b"\0" * (-written % tarfile.BLOCKSIZE)
            yield b"\0" * (2 * tarfile.BLOCKSIZE)

        return StreamingResponse(stream(), media_type="application/x-tar", headers={
            "content-disposition": f'attachment; filename="export-{ident}.tar"'})


def routes(console: Console) -> list[Route]:
    review = Review(console)
    return [Route("/review/findings", review.findings),
            Route("/review/requests", review.requests),
            Route("/review/requests/{ident:int}", review.request_detail),
            Route("/review/exports/new", review.export_form),
            Route("/review/retention", review.retention),
            Route("/review/audit", review.audit),
            Route("/review/log", review.log),
            Route("/exports/{ident:int}/download", review.download)]
