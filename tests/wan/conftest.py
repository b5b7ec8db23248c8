import pytest
from gwtool.pki import make_pki


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"), emts=3)


@pytest.fixture(scope="session")
def bp_pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("bppki"), emts=1, curve="brainpoolP256r1")
