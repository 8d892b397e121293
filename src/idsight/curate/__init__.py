"""idsight.curate."""
