"""The local A-REX 7 test CE that scripts/arc7-ce/start provides."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.arex import ArcCE, arc_session

pytestmark = [pytest.mark.integration, pytest.mark.arex]


def test_it_is_arc_7_offering_rest_1_0_and_1_1(arc7_ce: ArcCE) -> None:
    with arc_session(arc7_ce) as session:
        response = session.get(f"{arc7_ce.url}/rest")
    assert response.status_code == 200
    assert response.json() == {"version": ["1.0", "1.1"]}
    assert arc7_ce.rest_url.endswith("/rest/1.1") and arc7_ce.release == "7.0"


def test_both_ces_share_one_ca_so_a_proxy_of_either_works_on_both(arc_ce: ArcCE, arc7_ce: ArcCE) -> None:
    assert arc_ce.ca_file.read_bytes() == arc7_ce.ca_file.read_bytes()
    assert arc_ce.user_dn == arc7_ce.user_dn and arc_ce.user2_dn == arc7_ce.user2_dn
    for ce, proxy in ((arc7_ce, arc_ce.proxy), (arc_ce, arc7_ce.proxy2)):
        with arc_session(ce, proxy) as session:
            assert session.get(f"{ce.rest_url}/jobs").status_code == 200


def test_the_root_tree_leaves_nothing_mounted_on_the_host(arc7_ce: ArcCE) -> None:
    # Every process in the tree has its mounts in a namespace of its own, so
    # the cached tree can be deleted without unmounting anything first.
    mounts = Path("/proc/self/mounts").read_text().split("\n")
    assert not [line for line in mounts if "/actframework/arc7-" in line or str(arc7_ce.state_dir) in line]


def test_jobs_need_a_certificate_but_information_does_not(arc7_ce: ArcCE) -> None:
    # 6.17 refuses even /info without a certificate (403, see
    # test_arc_ce_launcher); 7.0 serves information openly and refuses the
    # rest with 500, not 403.
    with arc_session(arc7_ce, anonymous=True) as session:
        assert "ComputingService" in str(session.get(f"{arc7_ce.rest_url}/info").json())
        refused = session.get(f"{arc7_ce.rest_url}/jobs")
    assert refused.status_code == 500 and refused.reason == "User can't be assigned configuration"
