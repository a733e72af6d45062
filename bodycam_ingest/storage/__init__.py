"""Where evidence lives: one ``EvidenceStore`` interface (``interface``), the station's local
content-addressed store (``local``) and S3 with Object Lock (``s3``); the replication queue
(``queue``) copies verified local recordings to the object store, and ``locks`` is the pure core that
says how long and under which hold an object must be locked."""
