"""Genre Desktop: listen to a music collection and tag it by genre."""

__version__ = "0.1.0"
