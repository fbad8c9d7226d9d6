# Shared fixtures live in plugin modules beside this file; each says what it provides.
pytest_plugins = ["flink_support"]
