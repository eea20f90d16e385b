"""The operator console served by the API at ``/console``."""

from workers.console.routes import console_router

__all__ = ["console_router"]
