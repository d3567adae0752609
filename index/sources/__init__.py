"""Where articles come from: the seeds folder, pages fetched by URL, feeds."""
