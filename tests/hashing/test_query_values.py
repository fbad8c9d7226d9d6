"""hashwatch.hashing.match_policy.query_values: the order a batch's values are searched in."""

from hashwatch.hashing.match_policy import MatchOptions, query_values


class _Hashes:
    """An image's PDQ and candidates, the candidates in the order given (as read back from images/)."""

    def __init__(self, candidates: dict[str, str]):
        self._candidates = candidates

    def hash_value(self, name: str) -> str | None:
        return "00" * 32 if name == "pdq" else None

    def variants(self, name: str) -> dict[str, str]:
        return {}

    def candidates(self, name: str) -> dict[str, str]:
        return dict(self._candidates) if name == "pdq" else {}


def test_candidates_are_tried_in_family_order_whatever_order_they_were_stored_in():
    # A crawl computes trimmed before region-1; images/ stores them sorted by name (region-1 first). Among
    # equal distances the first tried wins, so the order must not depend on storage (a rescan named
    # region-1 where the crawl named trimmed).
    computed = {"trimmed": "11" * 32, "region-1": "22" * 32, "deskew+3.0": "33" * 32}
    stored = dict(sorted(computed.items()))
    options = MatchOptions(dihedral=False)
    first = query_values([_Hashes(computed)], "pdq", options)
    second = query_values([_Hashes(stored)], "pdq", options)
    assert first == second
    assert [variant for _, variant in first[0]] == [None, "trimmed", "deskew+3.0", "region-1"]
