"""The console's HTTP front door (Starlette): pages, the JSON API, media, live dock wall.

Every data access goes through ``api.registry.dispatch`` with the principal of the session's
account (or the kiosk principal for the wall), exactly as the CLI's calls do. Errors map to HTTP
statuses from their exit codes (4 -> 404, 5 -> 403, 2 -> 400, others 409/500).
"""

from __future__ import annotations

import asyncio
import json
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bodycam_ingest.access.principal import Principal
from bodycam_ingest.api.protocol import roundtrip
from bodycam_ingest.api.registry import dispatch
from bodycam_ingest.errors import BodycamError, ExitCode
from bodycam_ingest.station import Station
from bodycam_ingest.web import auth, charts, review, viewing
from bodycam_ingest.web.i18n import LANGUAGES, translate
from bodycam_ingest.web.sessions import Session, SessionStore, Throttle
from bodycam_ingest.web.settings import WebConfig

HERE = Path(__file__).parent
COOKIE = "bodycam_session"
LANG_COOKIE = "bodycam_lang"
PAGE_SIZE = 100  # recordings per page of a list, newest first
PRELOGIN = "bodycam_prelogin"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "media-src 'self'; connect-src 'self'; font-src 'self'; object-src 'none'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
STATUS = {ExitCode.NOT_FOUND: 404, ExitCode.REFUSED: 403, ExitCode.USAGE: 400,
          ExitCode.CONFIG: 400, ExitCode.FINDINGS: 409, ExitCode.WARNING: 409}


class SecurityHeaders:
    def __init__(self, app: ASGIApp, tls: bool) -> None:
        self.app = app
        self.tls = tls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                headers += [(b"content-security-policy", CSP.encode()),
                            (b"x-content-type-options", b"nosniff"),
                            (b"x-frame-options", b"DENY"),
                            (b"referrer-policy", b"no-referrer"),
                            (b"cross-origin-opener-policy", b"same-origin"),
                            (b"permissions-policy", b"camera=(), microphone=(), geolocation=()")]
                if not any(k == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                if self.tls:
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
            await send(message)

        await self.app(scope, receive, with_headers)


class Console:
    """The console bound to one station: sessions, throttling, templates, routes."""

    def __init__(self, station: Station, settings: WebConfig) -> None:
        self.station = station
        self.settings = settings
        self.sessions = SessionStore(timedelta(minutes=settings.session_minutes), station.clock)
        self.throttle = Throttle(settings.login_attempts,
                                 timedelta(minutes=settings.lockout_minutes), station.clock,
                                 {"addr": settings.login_attempts * auth.ADDRESS_FACTOR})
        self.templates = Environment(loader=FileSystemLoader(HERE / "templates"),
                                     autoescape=select_autoescape(["html"]))
        self.viewing = viewing.ViewingCopies(station, settings)

    # --- plumbing ---------------------------------------------------------------------------
    def language(self, request: Request) -> str:
        chosen = request.cookies.get(LANG_COOKIE)
        return chosen if chosen in LANGUAGES else self.settings.language

    def session(self, request: Request) -> tuple[Session, Principal] | None:
        session = self.sessions.get(request.cookies.get(COOKIE))
        if session is None:
            return None
        principal = auth.principal_for(self.station, session.account_id)
        if principal is None:
            self.sessions.drop(session.token)
            return None
        return session, principal

    def page(self, request: Request, template: str, status: int = 200,
             **values: Any) -> HTMLResponse:
        language = self.language(request)
        html = self.templates.get_template(template).render(
            t=lambda key: translate(key, language), lang=language, zone=self.station.config.
            station.zone, station=self.station.config.station.id, **values)
        return HTMLResponse(html, status_code=status)

    async def call(self, principal: Principal, method: str, params: dict[str, Any]) -> Any:
        """dispatch on a worker thread (handlers are blocking catalog work)."""
        result = await asyncio.to_thread(dispatch, self.station, principal, method, params)
        return roundtrip(result)

    def cookie(self, response: Response, name: str, value: str, *, max_age: int | None = None,
               http_only: bool = True) -> None:
        response.set_cookie(name, value, max_age=max_age, httponly=http_only,
                            secure=self.settings.tls, samesite="strict", path="/")

    # --- routes -----------------------------------------------------------------------------
    async def home(self, request: Request) -> Response:
        current = self.session(request)
        if current is None:
            return RedirectResponse("/wall" if self.settings.kiosk else "/login", 303)
        if current[1].roles & {"supervisor"}:
            return RedirectResponse("/review/requests", 303)
        return RedirectResponse("/me", 303)

    async def wall(self, request: Request) -> Response:
        if not self.settings.kiosk and self.session(request) is None:
            return RedirectResponse("/login", 303)
        return self.page(request, "wall.html")

    async def wall_state(self, request: Request) -> Response:
        if not self.settings.kiosk and self.session(request) is None:
            return JSONResponse({"error": "log in"}, 401)
        return JSONResponse(await self.call(auth.KIOSK_PRINCIPAL, "wall.view", {}))

    async def wall_events(self, request: Request) -> Response:
        """Server-sent events: the wall's state whenever it changes (checked every second)."""
        if not self.settings.kiosk and self.session(request) is None:
            return JSONResponse({"error": "log in"}, 401)

        async def stream() -> Any:
            last = None
            while not await request.is_disconnected():
                state = await self.call(auth.KIOSK_PRINCIPAL, "wall.view", {})
                tiles = json.dumps({"tiles": state["tiles"], "refused": state["refused"]},
                                   sort_keys=True, ensure_ascii=False)
                if tiles != last:
                    last = tiles
                    yield f"data: {tiles}\n\n"
                else:
                    yield ": keep-alive\n\n"
                await asyncio.sleep(1)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"cache-control": "no-store"})

    async def login_form(self, request: Request, problem: str | None = None) -> Response:
        token = secrets.token_urlsafe(24)
        response = self.page(request, "login.html", status=401 if problem else 200,
                             csrf=token, problem=problem)
        self.cookie(response, PRELOGIN, token, max_age=900)
        return response

    async def login(self, request: Request) -> Response:
        form = await request.form()
        token = request.cookies.get(PRELOGIN)
        if not token or not secrets.compare_digest(token, str(form.get("csrf", ""))):
            return await self.login_form(request, "login_failed")
        address = request.client.host if request.client else "unknown"
        result = await asyncio.to_thread(
            auth.login, self.station, self.throttle, str(form.get("login", ""))[:64],
            str(form.get("password", ""))[:1024], str(form.get("totp", "")) or None, address,
            self.station.clock())
        if result.account is None:
            return await self.login_form(request, result.problem)
        session = self.sessions.create(result.account.id, result.account.login)
        response = RedirectResponse("/me", 303)
        self.cookie(response, COOKIE, session.token)
        response.delete_cookie(PRELOGIN, path="/")
        return response

    async def logout(self, request: Request) -> Response:
        current = self.session(request)
        form = await request.form()
        if current is not None and secrets.compare_digest(current[0].csrf,
                                                          str(form.get("csrf", ""))):
            self.sessions.drop(current[0].token)
        response = RedirectResponse("/login", 303)
        response.delete_cookie(COOKIE, path="/")
        return response

    async def me(self, request: Request) -> Response:
        current = self.session(request)
        if current is None:
            return RedirectResponse("/login", 303)
        session, principal = current
        try:
            number = min(max(int(request.query_params.get("page", "0")), 0), 100_000)
        except ValueError:
            number = 0
        data = await self.call(principal, "recordings.overview", {"page": number,
                                                                  "limit": PAGE_SIZE})
        return self.page(request, "me.html", me=principal, csrf=session.csrf,
                         recordings=data["items"], total=data["total"], page=number,
                         pages=max((data["total"] + PAGE_SIZE - 1) // PAGE_SIZE, 1))

    async def recording(self, request: Request) -> Response:
        current = self.session(request)
        if current is None:
            return RedirectResponse("/login", 303)
        session, principal = current
        ident = int(request.path_params["ident"])
        try:
            shown = await self.call(principal, "recordings.show", {"recording_id": ident})
            line = await self.call(principal, "recordings.timeline", {"recording_id": ident})
        except BodycamError as exc:
            return self.page(request, "error.html", status=STATUS.get(exc.exit_status(), 500),
                             message=exc.message(), me=principal, csrf=session.csrf)
        matters = self.station.config.custody.matters
        return self.page(request, "recording.html", me=principal, csrf=session.csrf,
                         rec=shown, timeline=line, matters=matters)

    async def statistics(self, request: Request) -> Response:
        current = self.session(request)
        if current is None:
            return RedirectResponse("/login", 303)
        session, principal = current
        since, until = request.query_params.get("since"), request.query_params.get("until")
        try:
            stats = await self.call(principal, "statistics.view", {"since": since or None,
                                                                  "until": until or None})
        except BodycamError as exc:
            return self.page(request, "error.html", status=STATUS.get(exc.exit_status(), 500),
                             message=exc.message(), me=principal, csrf=session.csrf)
        language = self.language(request)
        chart = charts.share_bars(
            [(g["officer"], g["export_share"], g["labelling_share"]) for g in stats["groups"]],
            (translate("export_share", language), translate("labelling_share", language)))
        return self.page(request, "statistics.html", me=principal, csrf=session.csrf,
                         stats=stats, chart=chart, since=since, until=until)

    async def api(self, request: Request) -> Response:
        """POST /api/{method}: JSON params in, {"ok", "result"|"error"} out; CSRF header."""
        current = self.session(request)
        if current is None:
            return JSONResponse({"ok": False, "error": {"message": "log in first"}}, 401)
        session, principal = current
        if not secrets.compare_digest(session.csrf, request.headers.get("x-csrf-token", "")):
            return JSONResponse({"ok": False, "error": {"message": "missing or wrong CSRF "
                                                        "token; reload the page"}}, 403)
        try:
            params = await request.json()
        except ValueError:
            return JSONResponse({"ok": False, "error": {"message": "body is not JSON"}}, 400)
        if not isinstance(params, dict):
            return JSONResponse({"ok": False, "error": {"message": "body is not an object"}}, 400)
        method = request.path_params["method"]
        try:
            result = await self.call(principal, method, params)
        except BodycamError as exc:
            return JSONResponse({"ok": False, "error": {
                "message": exc.message(), "exit_code": int(exc.exit_status())}},
                STATUS.get(exc.exit_status(), 500))
        if method == "recordings.play":
            media = secrets.token_urlsafe(24)
            session.media[media] = result["recording_id"]
            result["url"] = f"/media/{media}"
        return JSONResponse({"ok": True, "result": result})

    async def media(self, request: Request) -> Response:
        """The bytes of a recording whose playback this session was authorized (and logged) for:
        the original straight from the store, or its viewing copy; HTTP range requests."""
        current = self.session(request)
        if current is None:
            return Response(status_code=401)
        recording_id = current[0].media.get(request.path_params["token"])
        if recording_id is None:
            return Response(status_code=404)
        info = await asyncio.to_thread(self.viewing.source, recording_id)
        response = FileResponse(info.path, media_type=info.media_type,
                                headers={"cache-control": "private, no-store",
                                         "x-original-sha256": info.sha256,
                                         "x-viewing-copy": "1" if info.copy else "0"})
        return response

    async def set_language(self, request: Request) -> Response:
        code = request.path_params["code"]
        response = RedirectResponse(request.headers.get("referer") or "/", 303)
        if code in LANGUAGES:
            self.cookie(response, LANG_COOKIE, code, max_age=365 * 86400, http_only=False)
        return response


def make_app(station: Station, settings: WebConfig) -> Starlette:
    console = Console(station, settings)
    routes = [
        Route("/", console.home),
        Route("/wall", console.wall),
        Route("/wall/state", console.wall_state),
        Route("/wall/events", console.wall_events),
        Route("/login", console.login_form, methods=["GET"]),
        Route("/login", console.login, methods=["POST"]),
        Route("/logout", console.logout, methods=["POST"]),
        Route("/me", console.me),
        Route("/recordings/{ident:int}", console.recording),
        Route("/statistics", console.statistics),
        Route("/api/{method:str}", console.api, methods=["POST"]),
        Route("/media/{token:str}", console.media),
        Route("/lang/{code:str}", console.set_language),
        *review.routes(console),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(SecurityHeaders, tls=settings.tls)])
    app.state.console = console
    return app
