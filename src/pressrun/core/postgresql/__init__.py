"""PostgreSQL database backend whose connection health check costs no round trip while the
connection is quiet (ENGINE "pressrun.core.postgresql")."""
