"""Answers with verifiable citations: extractive (default) and generative through an LLM backend."""
