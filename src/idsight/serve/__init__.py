"""idsight.serve."""
