"""A client library outside Python: Debian's ruby-redis (redis-rb 4.8)
against the real server.

Every tests/integration/ruby/*_test.rb is one minitest file, run as its own
ruby process with the server's port in STASHD_PORT (see ruby/test_helper.rb):
bitmaps and LCS, keyspace inspection, CLIENT KILL and command statistics,
hashes, transactions (MULTI/EXEC, WATCH against RESP and memcached
writers) and numbered databases.
"""

import os
import pathlib
import shutil
import subprocess

import pytest

from conftest import IS_MEMCACHED

RUBY = shutil.which("ruby")
HERE = pathlib.Path(__file__).resolve().parent / "ruby"
FILES = sorted(p.name for p in HERE.glob("*_test.rb"))

pytestmark = [
    pytest.mark.skipif(IS_MEMCACHED, reason="memcached does not speak RESP"),
    pytest.mark.skipif(RUBY is None, reason="ruby is not installed (.ci/deps installs it)"),
]


def _has_redis_gem():
    out = subprocess.run([RUBY, "-e", 'require "redis"'], capture_output=True, timeout=30)
    return out.returncode == 0


@pytest.mark.time_limit(60)
@pytest.mark.parametrize("name", FILES)
def test_ruby(server, name):
    if not _has_redis_gem():
        pytest.skip("ruby-redis is not installed (.ci/deps installs it)")
    s = server(["-t", "2"])
    env = dict(os.environ, STASHD_PORT=str(s.port))
    out = subprocess.run([RUBY, "-W0", str(HERE / name)], env=env, capture_output=True,
                         timeout=50, cwd=str(HERE))
    text = (out.stdout + out.stderr).decode(errors="replace")
    assert out.returncode == 0, text
    assert " 0 failures, 0 errors" in text, text
