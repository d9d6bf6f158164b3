"""Stage 2, labeling: the label store, the labeler widget, check labels. Imports the project stage."""
