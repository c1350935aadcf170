"""libmemcached's protocol conformance tool, ASCII half.

`memccapable -a` (Debian's libmemcached-tools) runs 27 named ASCII tests and
prints one "<name>  [pass]" line per test, then "All tests passed".  Against
memcached 1.6.18 every test passes, so every one must pass here too.
"""

import re
import shutil
import subprocess

import pytest

MEMCCAPABLE = shutil.which("memccapable") or "/usr/bin/memccapable"

ASCII_TESTS = [
    "version", "quit", "verbosity", "set", "set noreply", "get", "gets", "mget",
    "flush", "flush noreply", "add", "add noreply", "replace", "replace noreply",
    "cas", "cas noreply", "delete", "delete noreply", "incr", "incr noreply",
    "decr", "decr noreply", "append", "append noreply", "prepend",
    "prepend noreply", "stat",
]


@pytest.mark.time_limit(60)
def test_memccapable_ascii(mc):
    if not shutil.which(MEMCCAPABLE):
        pytest.skip("memccapable not installed (libmemcached-tools)")
    proc = subprocess.run([MEMCCAPABLE, "-h", "127.0.0.1", "-p", str(mc.port), "-a",
                           "-t", "5", "-v"], capture_output=True, timeout=50)
    out = proc.stdout.decode(errors="replace")
    err = proc.stderr.decode(errors="replace")
    # Each test prints "ascii <name>" padded to 40 columns on stdout, then
    # "[pass]" on stdout or "[FAIL]" (plus, with -v, the failed assertion)
    # on stderr; so a failed test is a name without a status on stdout.
    results = {}
    for chunk in re.split(r"(?=ascii )", out):
        if not chunk.startswith("ascii "):
            continue
        name = chunk[len("ascii "):40].strip()
        status = re.search(r"\[(pass|skip|FAIL)\]", chunk[40:])
        results[name] = status.group(1) if status else "FAIL"
    failed = sorted(k for k, v in results.items() if v != "pass")
    assert not failed, f"memccapable failures: {failed}\nstdout:\n{out}\nstderr:\n{err}"
    assert list(results) == ASCII_TESTS, out
    assert "All tests passed" in out, out
    assert proc.returncode == 0, out + err
