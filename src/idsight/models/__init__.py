"""idsight.models."""
