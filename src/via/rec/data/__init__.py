"""Event logs -> sessions; filters; temporal splits; prefix augmentation; readers."""

from via.rec.data.benchmark import SessionDataset, data_root, load_benchmark
from via.rec.data.errors import MalformedInputError, MalformedRow, RowErrors
from via.rec.data.sessions import PrefixBatch, PrefixTargets, Sessions, all_prefixes

__all__ = [
    "MalformedInputError",
    "MalformedRow",
    "PrefixBatch",
    "PrefixTargets",
    "RowErrors",
    "SessionDataset",
    "Sessions",
    "all_prefixes",
    "data_root",
    "load_benchmark",
]
