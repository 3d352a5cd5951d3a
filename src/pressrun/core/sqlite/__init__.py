"""SQLite database backend with a fair write lock (ENGINE "pressrun.core.sqlite")."""
