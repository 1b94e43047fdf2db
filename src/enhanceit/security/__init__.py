"""Security checks, each in its own small module: the URL/address policy for downloads and pinned connections."""
