"""Tools for plugin authors: the project scaffold (``tvae new-plugin``) and ``tvae plugins check``."""
