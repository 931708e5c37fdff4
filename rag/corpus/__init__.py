"""A corpus index split by concern: its state, loading a generation, writing one."""
