"""The station console: a local web application served by the daemon (issue 10).

One more client of the local API: every page and action calls ``api.registry.dispatch`` with the
principal of the logged-in account, so the authorization table decides here as for the CLI.
"""
