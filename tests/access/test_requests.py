"""access.requests: the pure core (digest, differences, who may decide) and, in-process through
``dispatch`` with account principals, acting for another account as a request."""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from access_support import add_account
from conftest_media import FolderCamera
from helpers import StationEnv
from sqlalchemy import select

from bodycam_ingest.access import requests
from bodycam_ingest.access.identity import principal_of
from bodycam_ingest.access.principal import Principal
from bodycam_ingest.api.registry import dispatch
from bodycam_ingest.catalog.access_models import AccountRow
from bodycam_ingest.custody.audit import AuditReport, check_identity
from bodycam_ingest.errors import (
    BodycamError,
    NotAuthorized,
    Refused,
    RequestSelfApproval,
    SystemCannotApprove,
)
from bodycam_ingest.station import Station

CHIEF = Principal(login="wang.chief", roles=frozenset({"supervisor"}), account_id=2)
CLERK = Principal(login="li.clerk", roles=frozenset({"custodian"}), account_id=1)
OFFICER = Principal(login="zhang", roles=frozenset({"officer"}), account_id=3)
ROOT = Principal.system_user("root", 0)


# --------------------------------------------------------------------------- pure core


def test_the_digest_is_over_canonical_json_so_key_order_does_not_matter() -> None:
    a = {"kind": "export", "recordings": [{"id": 1, "sha256": "ab"}], "recipient": "法院"}
    b = {"recipient": "法院", "recordings": [{"sha256": "ab", "id": 1}], "kind": "export"}
    assert requests.canonical(a) == requests.canonical(b)
    assert requests.canonical(a).decode() == (
        '{"kind":"export","recipient":"法院","recordings":[{"id":1,"sha256":"ab"}]}')
    assert requests.digest(a) == requests.digest(b) and len(requests.digest(a)) == 64
    assert requests.digest({**a, "recipient": "court"}) != requests.digest(a)


def test_differences_name_what_changed() -> None:
    shown = {"targets": [{"tier": "evidence", "case_number": None}], "tier": "standard"}
    now = {"targets": [{"tier": "evidence", "case_number": "C-8"}], "tier": "standard"}
    assert requests.differences(shown, now) == ['targets[0].case_number: null -> "C-8"']
    assert requests.differences(shown, shown) == []
    assert requests.differences({"ids": [1, 2]}, {"ids": [1]}) == ["ids: [1, 2] -> [1]"]


def test_only_another_person_holding_the_approving_role_may_decide() -> None:
    requests.check_decider(CHIEF, kind="export", requested_by="li.clerk", ident=1)
    with pytest.raises(RequestSelfApproval, match=r"wang\.chief made request 4"):
        requests.check_decider(CHIEF, kind="export", requested_by="wang.chief", ident=4)
    with pytest.raises(SystemCannotApprove, match="os:root is the station's own OS account"):
        requests.check_decider(ROOT, kind="export", requested_by="li.clerk", ident=1)
    with pytest.raises(SystemCannotApprove):  # even for a request root made itself
        requests.check_decider(ROOT, kind="tier_lower", requested_by="os:root", ident=1)
    for who in (CLERK, OFFICER):
        with pytest.raises(NotAuthorized, match="needs the role supervisor"):
            requests.check_decider(who, kind="hold_release", requested_by="someone", ident=1)


def test_summaries_say_what_a_request_does() -> None:
    preview = {"targets": [{"target": f"recording {i}"} for i in range(1, 6)],
               "tier": "standard"}
    assert requests.summary("tier_lower", preview) == (
        "recording 1, recording 2, recording 3 and 2 more -> standard")
    assert requests.summary("act_for", {"method": "holds.add",
                                        "on_behalf_of": {"login": "zhou"}}) == (
        "holds.add for zhou")


# --------------------------------------------------------------------------- in-process


@pytest.fixture
def station_with_people(station: StationEnv, folder_camera: FolderCamera
                        ) -> Iterator[tuple[Station, dict[str, Principal]]]:
    station.run("ingest", str(folder_camera.root), check=True)
    for login, roles in (("li.clerk", ["custodian"]), ("zhou.clerk", ["custodian"]),
                         ("wang.chief", ["supervisor"]), ("zhang", ["officer"])):
        add_account(station, login, roles)
    opened = Station.open(station.config)
    with opened.catalog.reading() as session:
        people = {row.login: principal_of(row) for row in session.scalars(select(AccountRow))}
    try:
        yield opened, people
    finally:
        opened.close()


def _events(station: Station, action: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(Path(station.config.storage.state_dir) / "catalog.sqlite3") as db:
        return db.execute("SELECT actor, approved_by, subject, reason FROM events WHERE "
                          "action = ? ORDER BY seq", (action,)).fetchall()


def test_acting_for_another_account_is_a_request_done_in_their_name_once_approved(
        station_with_people: tuple[Station, dict[str, Principal]]) -> None:
    station, people = station_with_people
    clerk, zhou, chief = people["li.clerk"], people["zhou.clerk"], people["wang.chief"]
    made = dispatch(station, clerk, "requests.act_for", {
        "login": "zhou.clerk", "method": "holds.add", "reason": "dictated by phone",
        "params": {"ids": [1], "reason": "court order 3", "owner": "zhou.clerk"}})["request"]
    assert made["preview"]["on_behalf_of"]["login"] == "zhou.clerk"
    assert made["preview"]["params"]["ids"] == [1]
    with pytest.raises(RequestSelfApproval):
        dispatch(station, clerk, "requests.approve", {"request_id": made["id"],
                                                      "digest": made["digest"]})
    done = dispatch(station, chief, "requests.approve", {"request_id": made["id"],
                                                         "digest": made["digest"]})
    assert done["request"]["state"] == "done"
    [hold] = done["result"]["result"]["holds"]
    assert (hold["actor"], hold["recording_id"]) == ("zhou.clerk", 1)
    assert _events(station, "hold_added") == [("zhou.clerk", "wang.chief", None, "court order 3")]
    assert [e[0] for e in _events(station, "request_created")] == ["li.clerk"]
    assert [e[0] for e in _events(station, "request_approved")] == ["wang.chief"]
    assert _events(station, "request_done") == [("wang.chief", None, f"request {made['id']}",
                                                 None)]
    assert zhou.login == "zhou.clerk"
    report = AuditReport()
    with station.catalog.reading() as session:
        check_identity(session, report)
    assert report.findings == [], "carrying out an approved request reads as four eyes kept"


def test_acting_for_someone_cannot_itself_make_a_request_or_wrap_a_decision(
        station_with_people: tuple[Station, dict[str, Principal]]) -> None:
    station, people = station_with_people
    clerk, chief = people["li.clerk"], people["wang.chief"]
    hold = dispatch(station, clerk, "holds.add", {"ids": [2], "reason": "order",
                                                  "owner": "li.clerk"})["holds"][0]
    # zhou does not own the hold: releasing it in zhou's name would need a second approval
    made = dispatch(station, clerk, "requests.act_for", {
        "login": "zhou.clerk", "method": "holds.release", "reason": "asked by zhou",
        "params": {"hold_id": hold["id"], "reason": "lifted"}})["request"]
    with pytest.raises(Refused, match="cannot itself need approval"):
        dispatch(station, chief, "requests.approve", {"request_id": made["id"],
                                                      "digest": made["digest"]})
    shown = dispatch(station, chief, "requests.show", {"request_id": made["id"]})
    assert shown["state"] == "failed"
    assert [e[0] for e in _events(station, "request_failed")] == ["wang.chief"]
    for method in ("requests.approve", "exports.files"):
        with pytest.raises(Refused, match="cannot be done for another account"):
            dispatch(station, clerk, "requests.act_for", {"login": "zhou.clerk",
                                                          "method": method, "reason": "x"})
    with pytest.raises(Refused, match="is you"):
        dispatch(station, clerk, "requests.act_for", {"login": "li.clerk",
                                                      "method": "holds.add", "reason": "x"})


def test_an_officer_sees_only_their_own_requests_and_a_rejection_needs_a_reason(
        station_with_people: tuple[Station, dict[str, Principal]]) -> None:
    station, people = station_with_people
    clerk, chief, officer = people["li.clerk"], people["wang.chief"], people["zhang"]
    made = dispatch(station, clerk, "exports.request", {"ids": [1], "recipient": "court",
                                                        "reason": "order"})["request"]
    assert dispatch(station, officer, "requests.list", {}) == []
    with pytest.raises(BodycamError, match="Request 1 does not exist"):
        dispatch(station, officer, "requests.show", {"request_id": made["id"]})
    assert [r["id"] for r in dispatch(station, chief, "requests.list", {})] == [made["id"]]
    with pytest.raises(Refused, match="needs --reason"):
        dispatch(station, chief, "requests.reject", {"request_id": made["id"], "reason": " "})
    with pytest.raises(NotAuthorized):
        dispatch(station, officer, "requests.reject", {"request_id": made["id"],
                                                       "reason": "no"})
    withdrawn = dispatch(station, clerk, "requests.reject", {"request_id": made["id"],
                                                             "reason": "wrong recording"})
    assert withdrawn["request"]["state"] == "rejected"
    [(actor, _, subject, reason)] = _events(station, "request_rejected")
    assert (actor, subject, reason) == ("li.clerk", f"request {made['id']}", "wrong recording")
    assert json.loads(withdrawn["request"]["preview_text"]) == withdrawn["request"]["preview"]


def test_a_hold_released_after_the_request_was_shown_refuses_the_approval(
        station_with_people: tuple[Station, dict[str, Principal]]) -> None:
    station, people = station_with_people
    clerk, zhou, chief = people["li.clerk"], people["zhou.clerk"], people["wang.chief"]
    hold = dispatch(station, clerk, "holds.add", {"ids": [3], "reason": "order",
                                                  "owner": "li.clerk"})["holds"][0]
    asked = dispatch(station, zhou, "holds.release", {"hold_id": hold["id"],
                                                      "reason": "lifted"})["request"]
    assert asked["preview"]["hold"]["active"] is True
    mine = dispatch(station, clerk, "holds.release", {"hold_id": hold["id"],
                                                      "reason": "lifted by its owner"})
    assert mine["request"] is None and mine["hold"]["released_by"] == "li.clerk"
    with pytest.raises(BodycamError, match="changed since it was shown") as refused:
        dispatch(station, chief, "requests.approve", {"request_id": asked["id"],
                                                      "digest": asked["digest"]})
    assert "hold.active: true -> false" in str(refused.value)
    assert dispatch(station, chief, "requests.show", {"request_id": asked["id"]}
                    )["state"] == "pending"
    [(actor, _, subject, reason)] = _events(station, "request_approval_refused")
    assert (actor, subject) == ("wang.chief", f"request {asked['id']}")
    assert "changed since it was shown" in reason


def test_an_approved_package_is_fetched_by_its_requester_or_a_supervisor_only(
        station_with_people: tuple[Station, dict[str, Principal]]) -> None:
    station, people = station_with_people
    clerk, zhou, chief = people["li.clerk"], people["zhou.clerk"], people["wang.chief"]
    made = dispatch(station, clerk, "exports.request", {"ids": [1, 2], "recipient": "court",
                                                        "reason": "order 9"})["request"]
    dispatch(station, chief, "requests.approve", {"request_id": made["id"],
                                                  "digest": made["digest"]})
    with pytest.raises(BodycamError, match=f"Request {made['id']} does not exist"):
        dispatch(station, zhou, "exports.files", {"request_id": made["id"]})
    with pytest.raises(NotAuthorized):
        dispatch(station, people["zhang"], "exports.files", {"request_id": made["id"]})
    listing = dispatch(station, clerk, "exports.files", {"request_id": made["id"]})
    assert dispatch(station, chief, "exports.files", {"request_id": made["id"]}) == listing
    paths = {f["path"] for f in listing["files"]}
    assert {"bagit.txt", "manifest-sha256.txt", "data/recordings.json"} <= paths
    part = dispatch(station, clerk, "exports.chunk", {"request_id": made["id"],
                                                      "path": "bagit.txt", "size": 7})
    assert (base64.b64decode(part["data"]), part["eof"]) == (b"BagIt-V", False)
    rest = dispatch(station, clerk, "exports.chunk", {"request_id": made["id"],
                                                      "path": "bagit.txt", "offset": 7})
    assert rest["eof"] and base64.b64decode(rest["data"]).startswith(b"ersion: 1.0")
    for bad in ("../catalog.sqlite3", "/etc/passwd", "data/../../1"):
        with pytest.raises(BodycamError):
            dispatch(station, clerk, "exports.chunk", {"request_id": made["id"], "path": bad})


def test_a_request_carried_out_inside_its_approval_is_logged_as_done(
        station_with_people: tuple[Station, dict[str, Principal]]) -> None:
    """A kind that runs in the approval's own transaction (a hold release) gets its
    ``request_done`` entry like a kind that runs after it (acting for someone)."""
    station, people = station_with_people
    clerk, zhou, chief = people["li.clerk"], people["zhou.clerk"], people["wang.chief"]
    hold = dispatch(station, clerk, "holds.add", {"ids": [2], "reason": "order",
                                                  "owner": "li.clerk"})["holds"][0]
    asked = dispatch(station, zhou, "holds.release", {"hold_id": hold["id"],
                                                      "reason": "lifted"})["request"]
    done = dispatch(station, chief, "requests.approve", {"request_id": asked["id"],
                                                         "digest": asked["digest"]})
    assert done["request"]["state"] == "done"
    assert _events(station, "request_done") == [("wang.chief", None, f"request {asked['id']}",
                                                 None)]
    report = AuditReport()
    with station.catalog.reading() as session:
        check_identity(session, report)
    assert report.findings == []
