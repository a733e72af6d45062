"""Audit section 'replicas' (issue 5): see ``check``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from bodycam_ingest.custody.audit import AuditInputs, AuditReport

SECTION = 'replicas'


def check(session: Session, inputs: AuditInputs, keyring: Mapping[str, Ed25519PublicKey],
          report: AuditReport) -> None:
    """Add every problem of this section to ``report`` (``report.checked[SECTION]`` counts objects)."""
