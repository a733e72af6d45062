"""Issue 13's "must show": every careful forgery of the adversarial corpus is caught at its own
dock with its kind, and no honest oddity raises any finding (bar the clock-step warning the issue
asks for). The profile is learned as the station learns it: from the camera's clean sessions."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import timedelta

import pytest

from bodycam_ingest.analysis import frames as in_process
from bodycam_ingest.analysis.chain import continuing_pairs, learn_chain
from bodycam_ingest.analysis.continuity import analyze_file, analyze_reuse, analyze_session
from bodycam_ingest.analysis.model import (
    DeviceHistory,
    DeviceProfile,
    Finding,
    FindingKind,
    SeenRecording,
    Thresholds,
    learn_profile,
)
from bodycam_ingest.analysis.profiles import ProfileFields, profile_from_fields
from bodycam_ingest.analysis.reuse import fingerprint
from bodycam_ingest.analysis.seams import ocr_reader, overlay_check, scene_check, seam_thumbs

from . import adversarial as a

TH = Thresholds()
CLOCK_STEP_WARNING = {("gps_clock_step", FindingKind.TIME_MISMATCH)}


@pytest.fixture(scope="session")
def adversarial(tmp_path_factory: pytest.TempPathFactory) -> dict[str, a.Case]:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg not installed (scripts/setup.sh installs it)")
    return a.build(tmp_path_factory.mktemp("adversarial"))


@pytest.fixture(scope="session")
def profile(adversarial: dict[str, a.Case]) -> DeviceProfile:
    """Learned from the camera's clean sessions (day and night), plus where its overlay is."""
    sessions = [[c.facts().timeline for c in adversarial[n].clips]
                for n in ("clean_day", "night_mode")]
    learned = learn_chain(learn_profile(t for s in sessions for t in s if t), sessions, TH)
    overlay = profile_from_fields(ProfileFields(**a.OVERLAY)).overlay
    return replace(learned, overlay=overlay)


def run_dock(case: a.Case, profile: DeviceProfile, pictures: bool, engine: str = "auto"
             ) -> list[Finding]:
    """What the station reports for this dock: each file, the files together, re-use, OCR."""
    seen = case.dock + timedelta(seconds=case.seen_after_dock_s)
    facts = [c.facts(seen_at=seen) for c in case.clips]
    out = [f for one in facts for f in analyze_file(one, TH, profile)]
    earlier = {c.recording_id: fingerprint(c.facts().timeline) for c in case.earlier}
    for one in facts:
        out += analyze_reuse(one.recording_id, one.timeline, earlier, TH)
    for device in sorted({f.device for f in facts}):
        mine = [f for f in facts if f.device == device]
        history = DeviceHistory(device, (), (a.PREVIOUS_DOCK,))
        out += analyze_session(mine, history, case.dock, TH, profile)
    if pictures and profile.overlay is not None:
        for one, clip in zip(facts, case.clips, strict=True):
            out += overlay_check(one, ocr_reader(clip.path, profile.overlay, engine=engine), TH,
                                 ocr_reader(clip.path, profile.overlay, frames=2, engine=engine))
        paths = {c.recording_id: c.path for c in case.clips}
        for first, then in continuing_pairs(facts, profile, TH):
            thumbs = seam_thumbs(paths[first.recording_id], paths[then.recording_id],
                                 engine=engine)
            out += scene_check(first, then, thumbs, TH)
    return out


def describe(found: list[Finding]) -> str:
    return "\n".join(f"  {f.kind.value} {f.recording_id} @{f.offset_s}: {f.message}"
                     for f in found) or "  (none)"


FORGED = ["gop_cut_mid_session", "last_segment_deleted", "middle_deleted_renumbered",
          "reencoded_camera_settings", "fresh_recording_spliced", "audio_replaced",
          "edit_list_skip", "edit_list_repeat", "reused_old_recording", "foreign_device_segment",
          "burned_clock_jump", "names_and_times_shifted", "gop_repeated_to_hide",
          "other_scene_swapped_in"]
HONEST = ["clean_day", "night_mode", "docked_recording", "gps_clock_step", "other_split_length",
          "quick_restart", "static_scene", "mic_off", "second_camera_same_scene"]


@pytest.mark.parametrize("name", FORGED)
def test_each_careful_forgery_is_caught_at_its_own_dock(
        name: str, adversarial: dict[str, a.Case], profile: DeviceProfile) -> None:
    case = adversarial[name]
    found = run_dock(case, profile, pictures=case.pictures)
    for kind, index in case.expect:
        rid = case.clips[index].recording_id
        assert any(f.kind == kind and f.recording_id == rid for f in found), \
            f"{name}: no {kind.value} on {rid}; got\n{describe(found)}"


@pytest.mark.parametrize("name", HONEST)
def test_honest_oddities_raise_no_finding_even_with_the_pictures_read(
        name: str, adversarial: dict[str, a.Case], profile: DeviceProfile) -> None:
    found = run_dock(adversarial[name], profile, pictures=True)
    unexpected = [f for f in found if (name, f.kind) not in CLOCK_STEP_WARNING]
    assert not unexpected, describe(unexpected)
    assert all(f.severity.value == "warning" for f in found), describe(found)


PICTURES = ["burned_clock_jump", "foreign_device_segment", "other_scene_swapped_in",
            "clean_day", "static_scene"]


@pytest.mark.skipif(not in_process.available(), reason="PyAV or tesserocr not installed")
@pytest.mark.parametrize("name", PICTURES)
def test_both_picture_engines_see_the_same(name: str, adversarial: dict[str, a.Case],
                                           profile: DeviceProfile) -> None:
    """In-process decoding and OCR (PyAV, tesserocr) and the programs (ffmpeg, tesseract) read
    the same pixels: the same findings, and the same overlay readings, on each case."""
    case = adversarial[name]
    found = {engine: sorted((f.kind.value, f.recording_id) for f in
                            run_dock(case, profile, pictures=True, engine=engine))
             for engine in ("in-process", "programs")}
    assert found["in-process"] == found["programs"], found
    assert profile.overlay is not None
    for clip in case.clips:
        offsets = [0.0, 1.0]  # every clip lasts longer than a second
        readings = {engine: ocr_reader(clip.path, profile.overlay, engine=engine)(offsets)
                    for engine in ("in-process", "programs")}
        assert readings["in-process"] == readings["programs"], (clip.path.name, readings)
        assert all(r.clock is not None for r in readings["in-process"]), readings


def test_the_clock_step_is_one_warning_at_the_split_never_a_gap(
        adversarial: dict[str, a.Case], profile: DeviceProfile) -> None:
    case = adversarial["gps_clock_step"]
    found = run_dock(case, profile, pictures=False)
    assert [(f.kind, f.recording_id) for f in found] == \
        [(FindingKind.TIME_MISMATCH, case.clips[2].recording_id)], describe(found)


def test_the_profile_learns_the_chain_from_clean_sessions(profile: DeviceProfile) -> None:
    assert profile.split_s == {3.0}
    assert "sei:5" in profile.start_marks and profile.audio_continues is True
    assert profile.gop_for(a.FPS) == 5 and profile.gop_for(6) == 3


def test_a_continuation_the_station_got_at_another_dock_is_not_missing(
        adversarial: dict[str, a.Case], profile: DeviceProfile) -> None:
    """Re-analysing a dock whose last full-length segment was continued by a file that came at a
    later dock (an interrupted copy) finds nothing missing; without that file it does."""
    case = adversarial["last_segment_deleted"]
    facts = [c.facts() for c in case.clips]
    last = case.clips[-1]
    later = SeenRecording("later", last.seq + 1, last.start + timedelta(seconds=3), 2.0)
    for seen, expected in (((), [FindingKind.CONTINUATION_MISSING]), ((later,), [])):
        history = DeviceHistory(a.DEVICE, seen, (a.PREVIOUS_DOCK,))
        found = analyze_session(facts, history, case.dock, TH, profile)
        assert [f.kind for f in found] == expected, describe(found)
