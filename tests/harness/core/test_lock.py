"""One `bench run` per output folder: the second is refused in one line, a dead run's lock is taken over."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.core.lock import LOCK_FILE, LockHeld, exclusive, run_lock

HOLD = """
import sys, time
from pathlib import Path
from harness.core.lock import run_lock
with run_lock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(120)
"""


@pytest.fixture
def holder(tmp_path):
    """Another process holding the lock on tmp_path/run."""
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        yield run_dir, proc
    finally:
        proc.kill()
        proc.wait()


def test_a_second_run_is_refused_naming_the_holder(holder):
    run_dir, proc = holder
    with pytest.raises(LockHeld) as e:
        with run_lock(run_dir):
            pass
    msg = str(e.value)
    assert f"pid {proc.pid} on {socket.gethostname()} since " in msg and "--set output_dir=" in msg
    assert "\n" not in msg
    assert json.loads((run_dir / LOCK_FILE).read_text())["pid"] == proc.pid  # the holder's lock is untouched


def test_bench_run_on_a_held_folder_exits_2_and_writes_nothing(holder, tmp_path):
    from harness.cli import main

    run_dir, proc = holder
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"""
name: locked
image_size: 64
seeds: [0]
datasets: [{{name: builtin, categories: [pushpins]}}]
generation: {{n_samples: 4, quality_metrics: false}}
generators: [{{name: none}}]
detectors: [{{name: supervised-seg, params: {{base_width: 4, max_steps: 2, batch_size: 4, input_size: 64}}}}]
output_dir: {run_dir}
report: {{dir: {tmp_path / "report"}}}
""")
    before = sorted(p.name for p in run_dir.iterdir())
    result = CliRunner().invoke(main, ["run", str(spec), "--no-progress", "--threads", "1"])
    assert result.exit_code == 2, result.output
    error = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and f"pid {proc.pid}" in error[0] and "in use by another bench run" in error[0]
    assert sorted(p.name for p in run_dir.iterdir()) == before == [LOCK_FILE]
    assert proc.poll() is None


def test_the_lock_of_a_dead_run_is_taken_over_with_a_warning(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (run_dir / LOCK_FILE).write_text(json.dumps({"pid": gone.pid, "host": socket.gethostname(), "since": "then"}))
    said: list[str] = []
    with run_lock(run_dir, warn=said.append) as path:
        assert json.loads(path.read_text())["pid"] == os.getpid()
    assert len(said) == 1 and said[0].startswith("warning:") and f"pid {gone.pid}" in said[0]
    assert (run_dir / LOCK_FILE).read_text() == ""  # released
    with run_lock(run_dir, warn=said.append):  # a clean release leaves nothing to take over
        pass
    assert len(said) == 1


def test_a_live_pid_in_the_file_is_respected_where_flock_is_not_seen(tmp_path):
    """On a filesystem without working flock, the pid recorded on this host still guards the folder."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    parent = os.getppid()
    (run_dir / LOCK_FILE).write_text(json.dumps({"pid": parent, "host": socket.gethostname(), "since": "now"}))
    with pytest.raises(LockHeld, match=f"pid {parent}"):
        with run_lock(Path(run_dir)):
            pass


def test_exclusive_makes_a_second_process_wait_until_the_holder_is_done(tmp_path):
    """Two jobs that would train the same shared fit take turns: the second enters only after
    the first has left (and so finds its checkpoint)."""
    lock, log = tmp_path / "fit.lock", tmp_path / "log"
    script = (
        "import sys, time\nfrom pathlib import Path\nfrom harness.core.lock import exclusive\n"
        "with exclusive(Path(sys.argv[1])):\n"
        "    open(sys.argv[2], 'a').write(f'in {sys.argv[3]}\\n'); print('in', flush=True)\n"
        "    time.sleep(float(sys.argv[4]))\n"
        "    open(sys.argv[2], 'a').write(f'out {sys.argv[3]}\\n')\n")
    first = subprocess.Popen([sys.executable, "-c", script, str(lock), str(log), "a", "1.5"], stdout=subprocess.PIPE,
                             text=True)
    assert first.stdout.readline().strip() == "in"
    second = subprocess.run([sys.executable, "-c", script, str(lock), str(log), "b", "0"], capture_output=True,
                            text=True, timeout=60)
    first.wait(timeout=60)
    assert second.returncode == 0, second.stderr
    assert log.read_text().split("\n")[:4] == ["in a", "out a", "in b", "out b"]
    with exclusive(lock):  # free again once both are gone
        pass
