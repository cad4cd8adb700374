"""The Flask web admin: `create_app(settings)` builds it, one blueprint per screen."""

from webadmin.app import create_app

__all__ = ["create_app"]
