"""The SQL store: models and the engine factory."""

from evolve.store.db import DB_FILENAME, open_engine, session_factory, sqlite_url
from evolve.store.models import Base, Evaluation, Event, LLMCall, Program, Run

__all__ = ["Base", "DB_FILENAME", "Evaluation", "Event", "LLMCall", "Program", "Run",
           "open_engine", "session_factory", "sqlite_url"]
