"""Persistence: metadata through SQLAlchemy Core (`meta`), bytes in a content-addressed store (`blobs`)."""
