from local_http import module_servers, servers, small_site  # noqa: F401  (fixtures)
