"""Records that flow between crawl stages inside a run (not written to Parquet)."""

from collections.abc import Sequence
from typing import NamedTuple, Optional


class CrawlTask(NamedTuple):
    """A page URL to fetch in crawl round ``depth`` (seeds are depth 0)."""

    url: str  # normalised
    depth: int
    parent_url: Optional[str]  # the page that linked it; None for seeds
    seed_url: str  # the seed this crawl path started from (scope is judged against it)


class ImageRef(NamedTuple):
    """An image reference found on a page: one per (page, image URL)."""

    image_url: str  # normalised absolute http(s) URL
    page_url: str
    depth: int  # the depth of the page that showed it
    seed_url: str


class DiscoveredLink(NamedTuple):
    """A page link found on a page, before dedupe decides whether it is fetched (one per (page, link))."""

    url: str  # normalised
    depth: int  # the round it would be fetched in: the page's depth + 1
    parent_url: str
    seed_url: str
    skip_kind: Optional[str]  # set when the page itself rules it out (links_per_page_cap, unsupported_scheme)


class ImageTask(NamedTuple):
    """A distinct image URL to fetch once, with every page of the run that showed it."""

    image_url: str
    depth: int  # smallest depth among its pages
    page_urls: Sequence[str]  # sorted, distinct
    seed_url: str  # of the shallowest page (for scope)


# A video reference and a video task have the image ones' fields (``image_url`` holds the video URL): the same
# types, so the frontier (one task per distinct URL, every page that showed it) and the polite fetch base serve
# both. Which one a record is, is said by the PCollection it travels in (``video_refs``, ``VideoTasksFromRefs``).
VideoRef = ImageRef
VideoTask = ImageTask
