"""idsight.review."""
