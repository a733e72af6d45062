"""The station's local API: one set of handlers behind one authorization table.

Front doors: the daemon's Unix socket (``api.server``, the caller identified by the kernel's peer
credentials), the CLI in-process for root and the service account (``api.registry.dispatch``
directly), and the web console over HTTP with login sessions. All of them call ``dispatch``.
"""
