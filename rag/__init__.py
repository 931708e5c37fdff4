"""rag: a French-first retrieval-augmented question-answering service."""

__version__ = "0.1.0"
