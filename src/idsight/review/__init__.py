"""idsight.review: the review store, where people confirm or correct the reader's output for training."""

from idsight.review.models import FieldReview, Read, ReadSummary, Review
from idsight.review.store import ReviewConflict, ReviewError, ReviewStore, StoreUnavailable

__all__ = [
    "FieldReview",
    "Read",
    "ReadSummary",
    "Review",
    "ReviewConflict",
    "ReviewError",
    "ReviewStore",
    "StoreUnavailable",
]
