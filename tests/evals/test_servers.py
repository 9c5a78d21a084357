"""A harness run stops the embedded servers it started and leaves those it found running."""

import pytest

from evals import servers
from rag_core import services
from rag_core.config import Settings

pytestmark = pytest.mark.integration


def test_servers_started_during_a_run_are_stopped_and_earlier_ones_kept(short_tmp):
    # short_tmp, not tmp_path: the embedded PostgreSQL (run as its own user under root) must
    # reach the folder, and its socket path must stay short
    base = short_tmp / "servers-test"
    earlier, fresh = base / "earlier", base / "fresh"
    base.mkdir()
    earlier.mkdir()
    fresh.mkdir()
    keep = Settings(profile="ci", state_dir=earlier, database_url=None, redis_url=None)
    services.start_redis(keep)
    try:
        dirs = servers.state_dirs(earlier, [fresh])
        before = servers.running(dirs)
        assert before[earlier.resolve()] == {"redis"}
        started = Settings(profile="ci", state_dir=fresh, database_url=None, redis_url=None)
        services.start_redis(started)
        services.start_postgres(started)
        # what a tune run (or --keep-services) leaves running for the next run of the loop
        assert sorted(s.split(" ")[0] for s in servers.started(before, dirs)) == [
            "postgres", "redis"]
        stopped = servers.stop_started(before, dirs)
        assert sorted(s.split(" ")[0] for s in stopped) == ["postgres", "redis"]
        after = servers.running(dirs)
        assert after[fresh.resolve()] == frozenset()
        assert after[earlier.resolve()] == {"redis"}  # not this run's: left running
    finally:
        services.stop_all(keep)
        services.stop_all(Settings(profile="ci", state_dir=fresh, database_url=None,
                                   redis_url=None))
