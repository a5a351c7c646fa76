"""The run folder on disk: atomic writes, the folder's files, checkpoints and how to find them."""
