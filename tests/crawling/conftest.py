from local_http import servers  # noqa: F401  (a fixture)
