"""Beam-free hashing and known-hash matching (issue 2); see docs/hashing.md.

- :mod:`hashwatch.hashing.image_hashes` - ``compute_image_hashes(data) -> ImageHashes``
- :mod:`hashwatch.hashing.index_build` - ``build_index(list_paths, out_path)``
- :mod:`hashwatch.hashing.known_hash_index` - ``KnownHashIndex.load(path).match_many(hashes)``
- :mod:`hashwatch.hashing.match_policy` - ``MatchOptions`` (thresholds, types, variants) and ``Match``
- :mod:`hashwatch.hashing.list_file` / :mod:`~hashwatch.hashing.known_hash_list` - reading one list file /
  merging list files
- :mod:`hashwatch.hashing.hash_types` - the ``HashType`` interface, registry and plug-in point
- :mod:`hashwatch.hashing.decode` - safe decoding (limits, JPEG draft, EXIF policy)

Submodules are imported on demand so that importing this package stays cheap.
"""
