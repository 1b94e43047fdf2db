"""The web page: static HTML, CSS and JavaScript served at ``/`` (no build step)."""
