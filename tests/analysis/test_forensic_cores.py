"""The pure cores behind issue 13's findings, case by case: edit lists, the overlay reading,
re-used content, and the profile's text form for the new fields."""

from __future__ import annotations

from datetime import datetime
from fractions import Fraction

import pytest

from bodycam_ingest.analysis.editlist import edit_issues
from bodycam_ingest.analysis.model import (
    ContainerInfo,
    DeviceProfile,
    Edit,
    EditList,
    FindingKind,
    MediaTimeline,
    Overlay,
    Thresholds,
)
from bodycam_ingest.analysis.overlay import Reading, agree, judge, parse
from bodycam_ingest.analysis.profiles import (
    ProfileFields,
    fields_from_profile,
    profile_from_fields,
)
from bodycam_ingest.analysis.reuse import shared

TH = Thresholds()
OVERLAY = Overlay("316x22+0+0", "{device} {officer} %Y-%m-%d %H:%M:%S")
START = datetime(2026, 11, 20, 10, 0, 0)


def timeline(*edits: Edit, media_s: float = 10.0, first_s: float = 0.0) -> MediaTimeline:
    return MediaTimeline(ContainerInfo("mp4"), (), {}, "index",
                         edit_lists=(EditList(0, edits, media_s, first_s),))


@pytest.mark.parametrize(("edits", "measured"), [
    ((Edit(0.021, None), Edit(10.0, 0.0)), []),  # priming pause, then everything: a camera
    ((Edit(10.0, 0.2),), []),  # B-frame delay, measured from the first sample's time
    ((Edit(4.0, 0.0), Edit(2.0, None), Edit(6.0, 4.0)), ["pause 2.00 s"]),
    ((Edit(5.0, 0.0, 2.0),), ["rate 2"]),  # 5 s at 2x: all 10 s shown, too fast
    ((Edit(8.0, 2.0),), ["skip 2.00 s"]),
    ((Edit(7.0, 0.0),), ["hide 3.00 s"]),
])
def test_edit_lists_are_judged_entry_by_entry(edits: tuple[Edit, ...], measured: list[str]
                                              ) -> None:
    first = 0.2 if edits[0].media_start_s == 0.2 else 0.0
    assert [m for _, m, _ in edit_issues(timeline(*edits, first_s=first), TH)] == measured


def test_the_overlay_is_read_through_ocr_noise_and_judged_against_the_name() -> None:
    got = parse(" DSJ9X001  A1024 2026-11-20 10:00:05 Rae\n", 5.0, OVERLAY)
    assert (got.device, got.officer, got.clock) == ("DSJ9X001", "A1024",
                                                   datetime(2026, 11, 20, 10, 0, 5))
    assert parse("nothing legible", 0.0, OVERLAY).clock is None
    honest = [Reading(0.0, "DSJ9X001", "A1024", START),
              Reading(9.5, "DSJ9X001", "A1024", datetime(2026, 11, 20, 10, 0, 9))]
    assert judge("r", "DSJ9X001", START, honest, TH) == []
    cut = [honest[0], Reading(9.5, "DSJ9X001", "A1024", datetime(2026, 11, 20, 10, 0, 12))]
    (jump,) = judge("r", "DSJ9X001", START, cut, TH)
    assert jump.kind == FindingKind.OVERLAY_MISMATCH and jump.offset_s == 9.5
    foreign = [Reading(0.0, "DSJ9X002", "A1024", START)]
    assert [f.measured for f in judge("r", "DSJ9X001", START, foreign, TH)] == ["DSJ9X002"]


def test_a_field_counts_only_when_adjacent_frames_agree() -> None:
    a = Reading(1.0, "DSJ9X001", "A1024", START)
    b = Reading(1.0, "DSJ9XOO01", "A1024", START)
    assert agree([a, b], 1.0) == Reading(1.0, None, "A1024", START)
    assert agree([a], 1.0).clock is None


def test_re_used_content_needs_enough_shared_gops() -> None:
    mine = frozenset({"a", "b", "c"})
    assert shared(mine, {"1": frozenset({"a"}), "2": frozenset({"a", "b", "x"})}, 2) == \
        [("2", 2)]
    assert shared(frozenset({"a"}), {"1": frozenset({"a"})}, 2) == []
    assert shared(frozenset(), {"1": frozenset()}, 2) == []


def test_the_chain_and_the_overlay_survive_the_profile_text_form() -> None:
    profile = DeviceProfile(gop=5, gops=frozenset({(Fraction(10), 5), (Fraction(6), 3)}),
                            split_s=frozenset({3.0}), start_marks=frozenset({"sei:5"}),
                            audio_continues=True, overlay=OVERLAY)
    assert profile_from_fields(fields_from_profile(profile)) == profile
    assert profile.gop_for(Fraction(6)) == 3 and profile.gop_for(Fraction(25)) == 5
    with pytest.raises(ValueError, match="is not a crop"):
        profile_from_fields(ProfileFields(overlay_crop="wide", overlay_format="{device}"))
    with pytest.raises(ValueError, match="go together"):
        profile_from_fields(ProfileFields(overlay_crop="10x10+0+0"))
    with pytest.raises(ValueError, match="RATE GOP"):
        profile_from_fields(ProfileFields(gops=["30"]))
