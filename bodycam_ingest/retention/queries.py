"""Catalog queries retention shares: a recording's current case, its effective long-term status.

A recording's case is the case number of its newest label (``custody_labels``, the highest id per
recording); a tier set on that case applies to it, including when it was labelled in later.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import Subquery

from bodycam_ingest.catalog.custody_models import LabelRow
from bodycam_ingest.catalog.models import Recording
from bodycam_ingest.catalog.retention_models import CaseTierRow
from bodycam_ingest.retention.tiers import Tier


def current_case() -> Subquery:
    """(recording_id, case_number) of every labelled recording's newest label."""
    newest = (select(LabelRow.recording_id, func.max(LabelRow.id).label("label_id"))
              .group_by(LabelRow.recording_id).subquery("newest_label"))
    return (select(LabelRow.recording_id, LabelRow.case_number)
            .join(newest, newest.c.label_id == LabelRow.id).subquery("current_case"))


def tier_ids_query(tier: Tier) -> Select[Any]:
    """Ids of live (not deleted) recordings whose own tier or whose case's tier is ``tier``."""
    case = current_case()
    return (select(Recording.id)
            .outerjoin(case, case.c.recording_id == Recording.id)
            .outerjoin(CaseTierRow, CaseTierRow.case_number == case.c.case_number)
            .where(Recording.deleted_at.is_(None),
                   or_(Recording.tier == tier.value, CaseTierRow.tier == tier.value))
            .order_by(Recording.id))


def long_term_ids(session: Session) -> list[int]:
    """Live recordings whose effective tier is long_term (long_term is the strongest tier)."""
    return list(session.scalars(tier_ids_query(Tier.LONG_TERM)))


def case_of(session: Session, recording_id: int) -> str | None:
    """The case number of the recording's current label (None: unlabelled or no case)."""
    return session.scalar(select(LabelRow.case_number).where(LabelRow.recording_id == recording_id)
                          .order_by(LabelRow.id.desc()).limit(1))
