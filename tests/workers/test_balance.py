from __future__ import annotations

from durable_mp.workers.pool_state import Census, Decision, decide


def census(**counts: int) -> Census:
    base = {"size": 2, "cap": 10, "busy": 0, "blocked": 0, "idle": 0, "starting": 0, "queued": 0}
    return Census(**{**base, **counts})


def test_a_warm_idle_pool_stays_as_it_is() -> None:
    assert decide(census(idle=2)) == Decision()


def test_dead_workers_are_replaced() -> None:
    assert decide(census(idle=1)).start == 1
    assert decide(census()).start == 2


def test_starting_workers_count_as_coming() -> None:
    assert decide(census(starting=2, queued=5)) == Decision()


def test_full_slots_make_jobs_wait_without_new_workers() -> None:
    assert decide(census(busy=2, queued=3)) == Decision()


def test_blocked_job_lends_its_slot_to_a_queued_one() -> None:
    assert decide(census(busy=2, blocked=1, queued=3)).start == 1
    assert decide(census(busy=2, blocked=2, queued=3)).start == 2


def test_no_extra_worker_without_queued_jobs() -> None:
    assert decide(census(busy=2, blocked=2)) == Decision()


def test_extra_workers_stop_at_the_cap() -> None:
    assert decide(census(cap=3, busy=2, blocked=2, queued=3)).start == 1


def test_every_worker_blocked_at_the_cap_is_stuck() -> None:
    assert decide(census(cap=3, busy=3, blocked=3, queued=1)).stuck
    assert decide(census(size=1, cap=1, busy=1, blocked=1, queued=1)).stuck


def test_a_running_job_may_free_a_worker_so_not_stuck() -> None:
    assert not decide(census(cap=3, busy=3, blocked=2, queued=1)).stuck


def test_surplus_idle_workers_retire_once_jobs_resume() -> None:
    # blocked job still waiting: keep the extra worker warm
    assert decide(census(size=1, busy=1, blocked=1, idle=1)) == Decision()
    # it resumed: the extra idle worker goes
    assert decide(census(size=1, busy=1, idle=1)).retire == 1


def test_shrinking_retires_only_idle_workers() -> None:
    assert decide(census(size=1, busy=2, idle=2)).retire == 2
    assert decide(census(size=1, busy=3)).retire == 0


def test_no_retiring_while_jobs_could_run() -> None:
    assert decide(census(size=1, idle=3, queued=1)).retire == 0
