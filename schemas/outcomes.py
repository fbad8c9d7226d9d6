"""The closed vocabularies used in outcome rows: fetch kinds, outcomes and error kinds.

Every URL hashwatch attempts (or discovers and decides not to attempt) ends as exactly one ``fetch_log`` row
with one ``outcome``; a failed or skipped row carries one ``error_kind`` from :data:`ERROR_KINDS`. Dashboards
group by these strings, so they are part of the output contract: add new ones, never rename.
"""

from __future__ import annotations

# What a URL was fetched as.
KIND_PAGE = "page"
KIND_IMAGE = "image"
KIND_VIDEO = "video"  # fetched by the video stage (streamed, --max-video-bytes), hashed as a video
FETCH_KINDS = frozenset({KIND_PAGE, KIND_IMAGE, KIND_VIDEO})

# How it ended.
OUTCOME_OK = "ok"  # fetched (and, for images, hashed; the decode status is in images/)
OUTCOME_FAILED = "failed"  # attempted, did not succeed; error_kind says why
OUTCOME_SKIPPED = (
    "skipped"  # discovered but deliberately not fetched (robots, scope, caps); error_kind says why
)
OUTCOMES = frozenset({OUTCOME_OK, OUTCOME_FAILED, OUTCOME_SKIPPED})

# Why. Grouped by stage for readability; one flat namespace in the data.
ERROR_KINDS = frozenset(
    {
        # URL and policy (usually outcome=skipped)
        "invalid_url",  # unparsable, or not http/https
        "unsupported_scheme",
        "out_of_scope",  # outside --scope
        "denied_pattern",  # matched a --deny-pattern
        "denied_host",  # host on --deny-host / --deny-hosts-file
        "max_depth",  # discovered beyond --max-depth
        "host_page_cap",  # --max-pages-per-host reached
        "links_per_page_cap",  # page had more links than --max-links-per-page
        "robots_disallowed",
        # network and protocol
        "blocked_address",  # SSRF guard: loopback/private/link-local/... address
        "dns",
        "connect",
        "tls",
        "timeout",  # connect/read timeout or total deadline
        "too_large",  # body (or decompressed body) over the cap
        "redirect_loop",
        "too_many_redirects",
        "bad_status",  # HTTP status not 2xx after retries
        "content_encoding",  # broken gzip/deflate/br
        "protocol",  # malformed HTTP
        # content
        "not_an_image",  # an image URL whose bytes are not an image
        "not_html",  # a page URL whose bytes are neither HTML nor an image
        "decode_error",  # image bytes that do not decode (truncated, corrupt)
        "too_many_pixels",  # decompression-bomb guard
        "too_many_frames",  # an animation over its frame cap: the frames before it are hashed (images/ row kept)
        "unsupported_format",
        "data_uri_too_large",
        "not_a_video",  # a video URL whose bytes are a page, text or a document (an image is hashed as one)
        # video (hashwatch.video.video_hashes.VIDEO_ERROR_KINDS, also videos.decode_status)
        "video_too_large",  # the body passed --max-video-bytes
        "video_too_long",
        "video_too_many_frames",
        "video_truncated",
        "video_undecodable",
        "video_unsupported_codec",
        "video_no_video_stream",
        "video_too_many_pixels",
        "video_decode_timeout",
        # input
        "invalid_seed",  # a seed line or cell that is not UTF-8 text (url: the line, bad bytes replaced)
        "unreadable_seed_file",  # streaming: a seed file that matched but could not be opened or read (url = path)
        "internal",  # a bug: an unexpected exception, recorded instead of crashing the pipeline
    }
)

# Robots decision recorded on each fetch_log row.
ROBOTS_ALLOWED = "allowed"
ROBOTS_DISALLOWED = "disallowed"
ROBOTS_IGNORED = "ignored"  # --ignore-robots
ROBOTS_UNAVAILABLE = "unavailable"  # robots.txt missing or unreachable: treated as allow-all
ROBOTS_NOT_APPLICABLE = "n/a"  # data: URIs, skipped before robots was consulted
ROBOTS_DECISIONS = frozenset(
    {ROBOTS_ALLOWED, ROBOTS_DISALLOWED, ROBOTS_IGNORED, ROBOTS_UNAVAILABLE, ROBOTS_NOT_APPLICABLE}
)
