"""The search path as a short pipeline of small stages (see :mod:`rag.search.pipeline`)."""
