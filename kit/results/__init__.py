"""Stage 4, results: evaluation, video analysis, filters, outlier frames, refinement.
Imports the project and network stages."""
