"""The built-in hash algorithms, one module each, each declaring its :class:`~hashwatch.hashing.hash_types.HashType`.

- :mod:`.digests` - md5, sha1, sha256 (:class:`~.digests.CryptoHashType`, reusable for a plug-in digest such
  as sha512) and crc32c, of the raw bytes;
- :mod:`.phash` - imagehash's pHash, of the picture and of query-side candidates;
- :mod:`.dhash` - imagehash's dHash;
- :mod:`.pdq` - Meta's PDQ with its quality and dihedral variants, of the picture and of candidates.

The registry (:mod:`hashwatch.hashing.hash_types`) lists them once; the downscales the perceptual ones share
are in :mod:`hashwatch.hashing.draft_resample`. Adding a built-in is a module here plus its line in
``hash_types._builtins``; a plug-in needs neither (docs/architecture.md, "Adding a hash type").
"""
