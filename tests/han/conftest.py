"""pytest fixtures of the HAN tests; the helpers live in hanfixture.py (a module name of
its own: every area has a conftest, so `from conftest import ...` would be ambiguous)."""
import time

import pytest
from hanfixture import NOW, FakeGateway


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    g = FakeGateway(tmp_path_factory.mktemp("hangw"), {"link": ["up", -91], "now": NOW})
    time.sleep(0.1)
    yield g
    g.stop()
