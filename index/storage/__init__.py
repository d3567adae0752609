"""The index on disk (generations, manifest, lock) and the vector stores behind it."""
