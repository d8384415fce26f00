"""Use cases: the only writers through repositories and the only callers of Temporal."""
