"""CLI commands: ``bodycam users add|list|show|disable|enable|map|unmap|roles|passwd|totp``.

Thin: build the parameters, ``common.call`` the ``users.*`` handler (in-process for root and the
service account, else through the daemon's socket), render the JSON. Who may do what is the
authorization table's business (access.authz), never decided here.

Bootstrap: on a fresh station root is the system, so root creates the first admin:
``bodycam users add LOGIN --name "..." --roles admin --os-user NAME``.
"""

from __future__ import annotations

import getpass
import sys
from typing import Annotated, Any

import typer

from bodycam_ingest.cli import common, render
from bodycam_ingest.errors import BadRequest

users_app = typer.Typer(no_args_is_help=True, help="Station accounts: who may use the station, "
                        "with which roles, from which OS users (admin only).")

ReasonOpt = Annotated[str, typer.Option("--reason", help="Why (goes into the custody log).")]


def _roles(text: str) -> list[str]:
    return [role.strip() for role in text.split(",") if role.strip()]


StationsOpt = Annotated[str | None, typer.Option(
    "--stations", help="Comma-separated station ids the roles hold on, on a catalog shared by "
    "stations; 'all' (the default): every station.")]


def _stations(text: str) -> list[str]:
    return [] if text.strip() == "all" else _roles(text)


def _pairs(account: dict[str, Any]) -> list[tuple[str, Any]]:
    return [("login", account["login"]), ("name", account["display_name"]),
            ("officer number", account["officer_number"]), ("unit", account["unit"]),
            ("roles", ", ".join(account["roles"]) or "-"),
            ("enabled", "yes" if account["enabled"] else "no (disabled)"),
            ("OS users", ", ".join(account["os_users"]) or "-"),
            ("stations", ", ".join(account.get("stations") or []) or "all"),
            ("console password", "set" if account["password_set"] else "not set"),
            ("second factor (TOTP)", "set" if account["totp_set"] else "not set"),
            ("created", f"{render.when(account['created_at'])}Z by {account['created_by']}"),
            ("last change", f"{render.when(account['updated_at'])}Z"),
            ("state digest", account["state_digest"])]


def _emit(account: dict[str, Any], title: str, as_json: bool) -> None:
    if as_json:
        render.emit_json(account)
        return
    pairs = _pairs(account)
    if account.get("totp_uri"):
        pairs.append(("TOTP setup (shown once)", account["totp_uri"]))
    render.out.print(render.key_values(title, pairs))
    if account.get("totp_uri"):
        render.err.print("Add the TOTP setup URI to an authenticator app now (type it or make a QR "
                         "code of it); the console will ask for its codes.", highlight=False)


@users_app.command("add")
def add_cmd(
    login: Annotated[str, typer.Argument(help="Login name (lower case), e.g. zhang.wei.")],
    name: Annotated[str, typer.Option("--name", help="Display name.")],
    roles: Annotated[str, typer.Option("--roles", help="Comma-separated roles: officer, "
                                       "custodian, supervisor, auditor, admin (and the config's "
                                       "[access] roles).")],
    officer_number: Annotated[str | None, typer.Option("--officer-number",
                                                       help="Officer number (unique).")] = None,
    unit: Annotated[str | None, typer.Option("--unit", help="Unit.")] = None,
    os_user: Annotated[list[str] | None, typer.Option(
        "--os-user", help="An OS user who acts as this account (repeatable).")] = None,
    stations: StationsOpt = None,
    config: common.ConfigOpt = None,
    as_json: common.JsonOpt = False,
) -> None:
    """Add an account (the custody log records it)."""
    params: dict[str, Any] = {"login": login, "display_name": name, "roles": _roles(roles),
                              "os_users": list(os_user or [])}
    if stations is not None:
        params["stations"] = _stations(stations)
    if officer_number is not None:
        params["officer_number"] = officer_number
    if unit is not None:
        params["unit"] = unit
    _emit(common.call(config, "users.add", params, read_only=False),
          f"Account {login} added", as_json)


@users_app.command("list")
def list_cmd(config: common.ConfigOpt = None, as_json: common.JsonOpt = False) -> None:
    """Every account: roles, enabled, OS users."""
    items = common.call(config, "users.list")
    if as_json:
        render.emit_json(items)
        return
    from rich.table import Table

    table = Table(title=f"Accounts ({len(items)})")
    for column in ("login", "name", "officer", "unit", "roles", "enabled", "OS users",
                   "password", "TOTP"):
        table.add_column(column, overflow="fold")
    for item in items:
        table.add_row(*map(render.plain, (
            item["login"], item["display_name"], item["officer_number"], item["unit"],
            ", ".join(item["roles"]), "yes" if item["enabled"] else "no",
            ", ".join(item["os_users"]) or "-", "set" if item["password_set"] else "-",
            "set" if item["totp_set"] else "-")))
    render.out.print(table)


@users_app.command("show")
def show_cmd(login: Annotated[str, typer.Argument(help="Login name.")],
             config: common.ConfigOpt = None, as_json: common.JsonOpt = False) -> None:
    """One account."""
    _emit(common.call(config, "users.show", {"login": login}), f"Account {login}", as_json)


@users_app.command("disable")
def disable_cmd(login: Annotated[str, typer.Argument(help="Login name.")], reason: ReasonOpt,
                config: common.ConfigOpt = None, as_json: common.JsonOpt = False) -> None:
    """Disable an account: its OS users and console logins are refused from now on."""
    _emit(common.call(config, "users.disable", {"login": login, "reason": reason},
                      read_only=False), f"Account {login} disabled", as_json)


@users_app.command("enable")
def enable_cmd(login: Annotated[str, typer.Argument(help="Login name.")], reason: ReasonOpt,
               config: common.ConfigOpt = None, as_json: common.JsonOpt = False) -> None:
    """Enable a disabled account again."""
    _emit(common.call(config, "users.enable", {"login": login, "reason": reason},
                      read_only=False), f"Account {login} enabled", as_json)


@users_app.command("map")
def map_cmd(login: Annotated[str, typer.Argument(help="Login name.")],
            os_user: Annotated[str, typer.Argument(help="OS user who will act as the account.")],
            config: common.ConfigOpt = None, as_json: common.JsonOpt = False) -> None:
    """Let an OS user act as an account (the CLI through the daemon's socket)."""
    _emit(common.call(config, "users.map", {"login": login, "os_user": os_user},
                      read_only=False), f"OS user {os_user} now acts as {login}", as_json)


@users_app.command("unmap")
def unmap_cmd(os_user: Annotated[str, typer.Argument(help="OS user.")],
              config: common.ConfigOpt = None, as_json: common.JsonOpt = False) -> None:
    """Stop an OS user acting as its account."""
    account = common.call(config, "users.unmap", {"os_user": os_user}, read_only=False)
    _emit(account, f"OS user {os_user} no longer acts as {account['login']}", as_json)


@users_app.command("roles")
def roles_cmd(login: Annotated[str, typer.Argument(help="Login name.")],
              roles: Annotated[str, typer.Option("--set", help="The account's roles from now "
                                                 "on, comma-separated.")],
              reason: ReasonOpt, stations: StationsOpt = None,
              config: common.ConfigOpt = None, as_json: common.JsonOpt = False) -> None:
    """Replace an account's roles (and, with --stations, the stations they hold on)."""
    params: dict[str, Any] = {"login": login, "roles": _roles(roles), "reason": reason}
    if stations is not None:
        params["stations"] = _stations(stations)
    _emit(common.call(config, "users.roles", params, read_only=False), f"Roles of {login}",
          as_json)


def read_new_password(from_stdin: bool) -> str:
    """The new password: one line of stdin, or typed twice at the terminal (not echoed)."""
    if from_stdin:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        if not password:
            raise BadRequest(problem="no password on stdin (one line expected)")
        return password
    first = getpass.getpass("New console password: ")
    if getpass.getpass("Again: ") != first:
        raise BadRequest(problem="the two passwords differ; nothing was changed")
    return first


@users_app.command("passwd")
def passwd_cmd(
    login: Annotated[str | None, typer.Argument(help="Account (default: your own); another's "
                                                "needs the admin role.")] = None,
    stdin: Annotated[bool, typer.Option("--stdin", help="Read the password from one line of "
                                        "stdin instead of the terminal.")] = False,
    config: common.ConfigOpt = None,
    as_json: common.JsonOpt = False,
) -> None:
    """Set a console password (yours, or as admin anyone's). Prints a TOTP setup URI once when the
    account's roles need a second factor and it has none yet."""
    params: dict[str, Any] = {"password": read_new_password(stdin)}
    if login is not None:
        params["login"] = login
    account = common.call(config, "users.passwd", params, read_only=False)
    _emit(account, f"Console password of {account['login']} set", as_json)


@users_app.command("totp")
def totp_cmd(login: Annotated[str, typer.Argument(help="Login name.")],
             reset: Annotated[bool, typer.Option("--reset", help="Required: replace the "
                                                 "account's TOTP secret.")] = False,
             reason: Annotated[str, typer.Option("--reason", help="Why (custody log).")
                               ] = "second factor reset",
             config: common.ConfigOpt = None, as_json: common.JsonOpt = False) -> None:
    """Give an account a new TOTP secret (lost phone); prints its setup URI once."""
    if not reset:
        raise typer.BadParameter("say --reset: the old secret stops working at once",
                                 param_hint="--reset")
    _emit(common.call(config, "users.totp", {"login": login, "reason": reason},
                      read_only=False), f"Second factor of {login} reset", as_json)


def register(app: typer.Typer) -> None:
    """Add this part's commands to the main app."""
    app.add_typer(users_app, name="users")
