"""The customers' self-service portal (its own Flask app, address and sessions)."""

from portal.app import create_app

__all__ = ["create_app"]
