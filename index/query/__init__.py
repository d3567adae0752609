"""Question -> retrieval -> the answer's verbatim quotes (or an abstention)."""
