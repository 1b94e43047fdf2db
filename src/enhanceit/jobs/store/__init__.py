"""Job records: SQLite for one machine (survives restarts), Redis for many, memory for tests."""

from enhanceit.jobs.store.base import JobStore
from enhanceit.jobs.store.in_memory import MemoryJobStore
from enhanceit.jobs.store.sqlite import SqliteJobStore

__all__ = ["JobStore", "MemoryJobStore", "SqliteJobStore"]
