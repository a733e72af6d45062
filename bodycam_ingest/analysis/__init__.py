"""Continuity and splice analysis: is every recording whole, and if not, where is it not?

Data flow: ``extract`` (the only file/subprocess edge: MP4 index via ``mp4index``, else
``ffprobe``) -> ``model.MediaTimeline`` -> pure ``continuity.analyze_file`` and
``continuity.analyze_session`` -> ``model.Finding`` list. Finding kinds: FINDINGS.md.
"""
