"""Analyst safety, proven: scan every file a run wrote for image content.

hashwatch promises that no image bytes, thumbnails or content fragments reach any output, log or temp file.
:func:`audit_tree` checks that promise on a finished run's output folder (logs included), without being told
where images are, and reports one line per finding, never quoting content:

- ``signature``: an image or video signature (JPEG, PNG, GIF, WebP, BMP, TIFF, MP4/ISO BMFF, WebM/MKV) in a
  Parquet value or a text file, raw or in what a base64 (standard or URL-safe, wrapped or not), hex or
  escaped-bytes run decodes to (:mod:`~hashwatch.audit.encoded`, :mod:`~hashwatch.audit.signatures`);
- ``blob``: 512 bytes or more of high-entropy binary data, encoded in text or raw in a binary column: a
  fragment of an image has no signature;
- ``content_run``: any 64-byte run of the reference images (``--images``), raw or encoded
  (:mod:`~hashwatch.audit.content_index`);
- ``binary_file``: a file that is neither Parquet, a compiled hash index, nor UTF-8 text;
- ``unreadable``: a file the audit could not read (a broken gzip, a corrupt Parquet file).

Parquet files are decoded (their pages are compressed, so a raw byte scan would miss everything): every
value of every column, nested ones included, and the footer's key-value metadata. Text files may be gzip,
bz2 or xz compressed.

>>> import tempfile, pathlib, base64
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> png = b"\\x89PNG\\r\\n\\x1a\\n" + bytes(range(120))
>>> _ = (folder / "run.log").write_text("thumb " + base64.b64encode(png).decode() + "\\n")
>>> [str(f).split(": ", 1)[1] for f in audit_tree(str(folder))]
['file byte 6 (line 1): signature: PNG (base64)']
"""

from hashwatch.audit.command import register
from hashwatch.audit.content_index import ContentIndex
from hashwatch.audit.scan import AuditFinding, audit_tree

__all__ = ["AuditFinding", "ContentIndex", "audit_tree", "register"]
