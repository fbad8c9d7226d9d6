"""Beam-free hashing and known-hash matching (issue 2); see docs/hashing.md.

- :mod:`hashwatch.hashing.image_hashes` - ``compute_image_hashes(data) -> ImageHashes``
- :mod:`hashwatch.hashing.known_hash_index` - ``build_index``, ``KnownHashIndex.load(path).match(hashes)``
- :mod:`hashwatch.hashing.known_hash_list` - reading, validating and merging known-hash lists
- :mod:`hashwatch.hashing.hash_types` - the ``HashType`` interface, registry and plug-in point
- :mod:`hashwatch.hashing.decode` - safe decoding (limits, JPEG draft, EXIF policy)

Submodules are imported on demand so that importing this package stays cheap.
"""
