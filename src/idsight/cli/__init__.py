"""The `idsight` command line."""
