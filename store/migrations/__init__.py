"""Syncline's schema, versioned with Alembic: ``syncline migrate`` (and every process at
start-up) brings the database to the newest revision; ``versions/`` holds each step."""
