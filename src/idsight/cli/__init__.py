"""idsight.cli."""
