"""bodycam-ingest: body-camera recordings in, court-grade evidence out."""

__version__ = "0.1.0"
