"""Articles -> units and chunks -> embeddings -> a new index generation."""
