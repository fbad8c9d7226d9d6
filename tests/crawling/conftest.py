from local_http import module_servers, servers  # noqa: F401  (fixtures)
