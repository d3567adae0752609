"""The `footnote` command line."""
