"""Who is acting and what they may do: accounts, principals, the one authorization table.

Identity comes from the kernel (peer credentials of a local API caller, or the uid of an in-process
command run by root or the service account) or, for the console, from a login; never from an
environment variable, a flag or a name typed in a form.
"""
