"""The engine as a site runs it: jobs that queue behind ``maxjobs`` for long,
several users with their own certificates sharing one CE, and proxies that
are renewed, expire and are finally forgotten. Against the real A-REX, with
the durations made short by configuration."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography import x509 as crypto_x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from actframework.arc import ARCRest
from actframework.db.schema import arcjobs, clientjobs
from actframework.x509 import Proxy, load_proxy, make_proxy, write_proxy

from fixtures.stack import RESTING, Stack, StackFactory

pytestmark = [pytest.mark.integration, pytest.mark.arex]


def sleep_job(seconds: float, name: str) -> str:
    """A job that sleeps, then writes an output file naming itself."""
    return (f'&(executable="/bin/sh")(arguments="-c" "sleep {seconds}; echo {name} > out.txt")'
            f'(outputfiles=("out.txt" ""))(jobname="{name}")')


def site_settings(stack_cluster: str, **engine: object) -> dict[str, object]:
    return {"sites": {"ce": {"endpoint": stack_cluster, "maxjobs": engine.pop("maxjobs", 999999)}}, **engine}


def run_to_end(users: Sequence[Stack], timeout: float = 300,
               on_poll: Callable[[dict[int, str | None]], None] | None = None) -> dict[int, str]:
    """Poll every user's jobs, cleaning each as it ends (as ``act get``
    does), until none is left; returns each job's final state. ``on_poll`` sees the
    states of all jobs at every poll."""
    final: dict[int, str] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states: dict[int, str | None] = {}
        for user in users:
            current = {job_id: job.get("a_arcstate") for job_id, job in user.jobs().items()}
            states.update(current)
            ended = [job_id for job_id, state in current.items() if state in RESTING]
            for job_id in ended:
                final.setdefault(job_id, str(current[job_id]))
            if ended:
                user.clean(ended)
        if on_poll is not None:
            on_poll(states)
        if not states:
            return final
        time.sleep(0.3)
    pytest.fail(f"jobs still not ended after {timeout} s: {states}\n{users[0].logs()}")


def ce_delegation_expiry(cluster: str, proxy: Proxy, ca_dir: Path, delegation_id: str, tmp: Path) -> datetime:
    """Until when the CE's copy of a delegation is valid (asked as its owner)."""
    path = tmp / f"proxy-{time.monotonic_ns()}.pem"
    write_proxy(proxy, path)
    with ARCRest.connect(cluster, proxy=path, ca_dir=ca_dir) as rest:
        pem = rest.get_delegation(delegation_id)
    return crypto_x509.load_pem_x509_certificates(pem)[0].not_valid_after_utc


# --------------------------------------------------------------------------- queues


def test_jobs_queued_behind_maxjobs_longer_than_the_tosubmit_timeout_all_run(
    make_stack: StackFactory, arc_ce
) -> None:
    cluster = f"https://localhost:{arc_ce.port}/fork"
    stack = make_stack("sqlite", engine_settings=site_settings(cluster, maxjobs=1, timeouts={"tosubmit": 2}))
    ids = stack.submit([sleep_job(3, f"queued{i}") for i in range(3)])
    errors: dict[int, object] = {}

    def watch(_states: dict[int, str | None]) -> None:
        for job_id, job in stack.jobs(ids).items():
            if job.get("a_Error"):
                errors[job_id] = job["a_Error"]

    final = run_to_end([stack], on_poll=watch)
    assert final == {job_id: "done" for job_id in ids}, stack.logs()
    assert errors == {}


def test_outputs_a_user_leaves_unfetched_do_not_hold_the_sites_slots(
    make_stack: StackFactory, arc_ce
) -> None:
    cluster = f"https://localhost:{arc_ce.port}/fork"
    stack = make_stack("sqlite", engine_settings=site_settings(cluster, maxjobs=1))
    idle = stack.as_user(load_proxy(arc_ce.proxy2))
    unfetched = idle.submit([sleep_job(1, "unfetched")])
    assert idle.wait_for(unfetched, RESTING, timeout=120) == {unfetched[0]: "done"}
    # The job stays on the CE until its user cleans it; the next user's
    # job runs meanwhile.
    later = stack.submit([sleep_job(1, "later")])
    assert stack.wait_for(later, RESTING, timeout=120) == {later[0]: "done"}, stack.logs()
    assert idle.states(unfetched) == {unfetched[0]: "done"}
    stack.clean(later)
    idle.clean(unfetched)


# --------------------------------------------------------------------------- fair share


def test_a_user_who_queues_later_is_not_starved_by_a_user_with_many_queued_jobs(
    make_stack: StackFactory, arc_ce
) -> None:
    cluster = f"https://localhost:{arc_ce.port}/fork"
    first = make_stack("sqlite", engine_settings=site_settings(cluster, maxjobs=3))
    second = first.as_user(load_proxy(arc_ce.proxy2))
    many = first.submit([sleep_job(2, f"many{i}") for i in range(12)])
    first.wait_for(many[:3], {"submitted", "running", "finishing", "finished", "done"}, timeout=120)
    waiting_before = sum(1 for state in first.states(many).values() if state == "tosubmit")
    few = second.submit([sleep_job(2, f"few{i}") for i in range(3)])
    waiting_when_all_three_went: list[int] = []

    def watch(states: dict[int, str | None]) -> None:
        if not waiting_when_all_three_went and all(states.get(job_id) != "tosubmit" for job_id in few):
            waiting_when_all_three_went.append(sum(1 for job_id in many if states.get(job_id) == "tosubmit"))

    final = run_to_end([first, second], on_poll=watch)
    assert set(final.values()) == {"done"} and len(final) == 15
    # First come, first served would have submitted every one of the first
    # user's waiting jobs (at least 7) before any of the three; fair share
    # gives the first user about as many slots as the second meanwhile (3,
    # and ties, equal holdings, go to the user whose oldest job is older).
    assert waiting_before >= 7
    assert waiting_before - waiting_when_all_three_went[0] <= 6, (waiting_before, waiting_when_all_three_went)


def untrusted_proxy(home: Path) -> Proxy:
    """A proxy of a user whose CA neither the CE nor anyone else trusts: the
    CE refuses every connection made with it."""
    name = crypto_x509.Name([crypto_x509.NameAttribute(NameOID.COMMON_NAME, "Nowhere CA")])
    ca_key, user_key = (rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2))
    now = datetime.now(UTC)

    def issue(subject: crypto_x509.Name, key: rsa.RSAPrivateKey, ca: bool) -> crypto_x509.Certificate:
        return (crypto_x509.CertificateBuilder().subject_name(subject).issuer_name(name)
                .public_key(key.public_key()).serial_number(crypto_x509.random_serial_number())
                .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=1))
                .add_extension(crypto_x509.BasicConstraints(ca=ca, path_length=None), critical=True)
                .sign(ca_key, hashes.SHA256()))

    user = issue(crypto_x509.Name([crypto_x509.NameAttribute(NameOID.COMMON_NAME, "mallory")]), user_key, False)
    (home / "usercert.pem").write_bytes(user.public_bytes(serialization.Encoding.PEM))
    (home / "userkey.pem").write_bytes(user_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))
    (home / "userkey.pem").chmod(0o600)
    issue(name, ca_key, True)  # the CA exists only here
    return make_proxy(home / "usercert.pem", home / "userkey.pem")


def test_an_owner_whose_batch_the_ce_refuses_does_not_hold_back_the_other_owners_of_the_cycle(
    make_stack: StackFactory, arc_ce, tmp_path: Path
) -> None:
    cluster = f"https://localhost:{arc_ce.port}/fork"
    stack = make_stack("sqlite", engine_settings=site_settings(cluster))
    stack.kill("engine", signal.SIGTERM)  # both owners' jobs wait for the same cycle
    refused = stack.as_user(untrusted_proxy(tmp_path))
    accepted = stack.as_user(load_proxy(arc_ce.proxy2))
    refused_ids = refused.submit([sleep_job(1, f"refused{i}") for i in range(3)])  # older: their batch goes first
    accepted_ids = accepted.submit([sleep_job(1, f"accepted{i}") for i in range(3)])
    stack.start_engine()
    # The refused owner's batch fails at the CE; the other owner's batch of
    # the same cycle still goes, instead of waiting for its lease (600 s).
    final = run_to_end([accepted], timeout=240)
    assert final == {job_id: "done" for job_id in accepted_ids}, stack.logs()
    states = refused.states(refused_ids)
    assert set(states.values()) == {"tosubmit"}, states
    refused.action("cancel", refused_ids)


# --------------------------------------------------------------------------- credentials


def test_a_fresh_proxy_renews_the_ce_delegation_of_running_jobs(
    make_stack: StackFactory, arc_ce, tmp_path: Path
) -> None:
    stack = make_stack("sqlite", engine_settings={"credential_check_interval": 1, "delegation_renew_before": 60})
    old = make_proxy(arc_ce.user2_cert, arc_ce.user2_key, timedelta(minutes=20))
    user = stack.as_user(old)
    (job_id,) = user.submit([sleep_job(25, "renewed")])
    user.wait_for([job_id], {"submitted", "running"}, timeout=120)
    record = stack.store.get_delegation(stack.cluster, user.proxyid)
    assert record is not None
    before = ce_delegation_expiry(stack.cluster, old, arc_ce.ca_dir, record.delegationid, tmp_path)
    assert before <= old.not_after + timedelta(seconds=1)
    fresh = make_proxy(arc_ce.user2_cert, arc_ce.user2_key, timedelta(hours=6))
    assert user.delegate(fresh) == user.proxyid  # act proxy: same identity
    deadline = time.monotonic() + 60
    after = before
    while time.monotonic() < deadline and after < fresh.not_after - timedelta(minutes=1):
        time.sleep(0.5)
        after = ce_delegation_expiry(stack.cluster, fresh, arc_ce.ca_dir, record.delegationid, tmp_path)
    assert after > old.not_after + timedelta(hours=5), stack.logs()
    assert user.wait_for([job_id], RESTING, timeout=120) == {job_id: "done"}


def test_jobs_of_a_user_whose_proxy_expired_show_why_and_wait_for_act_proxy(
    make_stack: StackFactory, arc_ce
) -> None:
    stack = make_stack("sqlite", engine_settings={"timeouts": {"tosubmit": 1}})
    proxy = load_proxy(arc_ce.proxy2)
    user = stack.as_user(proxy)
    (running,) = user.submit([sleep_job(8, "expiring")])
    user.wait_for([running], {"submitted", "running"}, timeout=120)
    stack.kill("engine", signal.SIGTERM)
    (waiting,) = user.submit([sleep_job(1, "waiting")])  # queued while the engine is down
    expired_at = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=1)
    stack.store.store_proxy(proxy.dn, "", proxy.to_pem(), expired_at)
    stack.start_engine()

    def errors() -> dict[int, str]:
        """Each job's Error, as the site sees it (the user's own view
        answers 401 "run act proxy" while the proxy is expired)."""
        with stack.store.engine.connect() as connection:
            rows = connection.execute(sa.select(clientjobs.c.id, arcjobs.c.Error).select_from(
                clientjobs.join(arcjobs, clientjobs.c.arcjobid == arcjobs.c.id)).where(
                clientjobs.c.id.in_([running, waiting])))
            return {job_id: str(error or "") for job_id, error in rows}

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not all(
            text.startswith("proxy expired: run act proxy") for text in errors().values()):
        time.sleep(0.3)
    assert all(text.startswith("proxy expired: run act proxy") for text in errors().values()), errors()
    time.sleep(12)  # the running job has ended on the CE by now, and the tosubmit timeout is long past
    with stack.store.engine.connect() as connection:
        states = dict(connection.execute(sa.select(clientjobs.c.id, arcjobs.c.arcstate).select_from(
            clientjobs.join(arcjobs, clientjobs.c.arcjobid == arcjobs.c.id))).all())
    assert states[running] in {"submitted", "running"} and states[waiting] == "tosubmit", states
    user.delegate(proxy)  # act proxy
    assert user.wait_for([running, waiting], RESTING, timeout=180) == {running: "done", waiting: "done"}
    assert set(errors().values()) == {""}


def test_credentials_of_a_user_with_no_jobs_left_are_removed(
    make_stack: StackFactory, arc_ce, tmp_path: Path
) -> None:
    stack = make_stack("sqlite", engine_settings={"credential_check_interval": 1, "expired_proxy_grace": 2})
    proxy = make_proxy(arc_ce.user2_cert, arc_ce.user2_key, timedelta(hours=1))
    user = stack.as_user(proxy)
    ids = user.submit([sleep_job(1, "forgotten")])
    user.wait_for(ids, {"submitted", "running", "finishing", "finished", "done"}, timeout=120)
    record = stack.store.get_delegation(stack.cluster, user.proxyid)
    assert record is not None
    assert run_to_end([user]) == {ids[0]: "done"}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and stack.store.delegations_of(user.proxyid):
        time.sleep(0.3)
    assert stack.store.delegations_of(user.proxyid) == []
    path = tmp_path / "user2.pem"
    write_proxy(proxy, path)
    with ARCRest.connect(stack.cluster, proxy=path, ca_dir=arc_ce.ca_dir) as rest:
        on_ce = {delegation.id for delegation in rest.list_delegations()}
        while time.monotonic() < deadline + 30 and record.delegationid in on_ce:  # the record goes first
            time.sleep(0.3)
            on_ce = {delegation.id for delegation in rest.list_delegations()}
    assert record.delegationid not in on_ce, stack.log("engine")
    assert stack.store.get_proxy(user.proxyid) is not None  # a valid proxy stays
    stack.store.store_proxy(proxy.dn, "", proxy.to_pem(), datetime.now(UTC).replace(tzinfo=None))
    while time.monotonic() < deadline + 30 and stack.store.get_proxy(user.proxyid) is not None:
        time.sleep(0.3)
    assert stack.store.get_proxy(user.proxyid) is None
    assert not (stack.config.proxies_dir / f"proxiesid{user.proxyid}").exists()
