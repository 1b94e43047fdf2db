"""Security checks, each in its own small module: the URL/address policy (``urlpolicy``), pinned connections
(``pinned``), and ``outbound``, through which every HTTP request the service sends passes."""
