"""idsight.data."""
