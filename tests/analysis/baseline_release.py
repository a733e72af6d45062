"""Judge the adversarial corpus with an older release of the analysis (FINDINGS.md's "before").

    git archive 97cd03a bodycam_ingest | tar -x -C /tmp/old
    python tests/analysis/baseline_release.py /tmp/old /tmp/corpus

Builds the corpus with this tree's generator, then imports ``bodycam_ingest`` from the old tree
and prints, per case, what that release reports at the dock (profile learned from the clean day
and night sessions, as the tests do). Not a test: a record of where the old release stood.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def main(old_tree: str, workdir: str) -> None:
    sys.path.insert(0, old_tree)
    sys.path.insert(1, str(Path(__file__).resolve().parents[1]))
    import bodycam_ingest
    from analysis import adversarial as a  # type: ignore[import-not-found]

    assert bodycam_ingest.__file__.startswith(old_tree), bodycam_ingest.__file__
    from bodycam_ingest.analysis.continuity import analyze_file, analyze_session
    from bodycam_ingest.analysis.extract import extract
    from bodycam_ingest.analysis.model import DeviceHistory, RecordingFacts, learn_profile

    class Kinds:  # the new kinds do not exist in an old release: their names will do
        def __getattr__(self, name: str) -> str:
            return name.lower()

    a.K = Kinds()
    cases = a.build(Path(workdir))

    def facts(c: Any) -> Any:
        got = extract(c.path)
        return RecordingFacts(c.recording_id, c.device, a.OFFICER, c.start, a.ZONE, c.seq,
                              datetime.fromtimestamp(c.path.stat().st_mtime, UTC),
                              c.path.stat().st_size, got.timeline, got.problem)

    profile = learn_profile([facts(c).timeline for n in ("clean_day", "night_mode")
                             for c in cases[n].clips])
    for name, case in cases.items():
        fs = [facts(c) for c in case.clips]
        found = [f for one in fs for f in analyze_file(one, None, profile)]
        for dev in sorted({f.device for f in fs}):
            history = DeviceHistory(dev, (), (a.PREVIOUS_DOCK,))
            found += analyze_session([f for f in fs if f.device == dev], history, case.dock)
        kinds = sorted({(f.kind.value, f.severity.value, f.recording_id.split("_")[-1][:4])
                        for f in found})
        print(f"{'FORGED' if case.forged else 'honest'} {name:26s} "
              f"{kinds or 'CLEAN (nothing found)'}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
