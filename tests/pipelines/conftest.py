import sys
from pathlib import Path

# The loopback servers and the small site with failures of every kind live with the crawling tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "crawling"))

from local_http import module_servers, servers, small_site  # noqa: E402, F401  (fixtures)
