"""idsight.tasks."""
