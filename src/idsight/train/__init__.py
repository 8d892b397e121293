"""idsight.train."""
