"""The foundation: settings, errors, processes, JVM jars, the one session factory, the catalog
client, Delta helpers and the one JVM-free Delta reader. Imports nothing else of ours."""
