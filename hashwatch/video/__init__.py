"""Videos and animations: decoding from memory, vPDQ and video digests, the vPDQ matching rule.

Beam-free like :mod:`hashwatch.hashing`. The pieces:

- :mod:`hashwatch.video.frames`: the value types every part shares (:class:`VpdqFrame`, :class:`TimeRange`).
- :mod:`hashwatch.video.video_hashes`: :class:`VideoHashes` (what one video hashes to) and :class:`VideoLimits`.

Video bytes and decoded frames never leave the process: nothing here writes them anywhere, and no exception
message carries them.
"""
