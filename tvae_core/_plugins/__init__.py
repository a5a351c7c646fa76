"""The plugin layer: hooks, component contracts and interfaces, the registry, plugin loading."""
