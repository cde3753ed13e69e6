"""`dalrn load`'s CPU meter: worker CPU is counted per process, so a worker restarted under
its old consumer name (its report overwritten, its CPU counter back near zero) never makes
the CPU per dispute negative, and a process that kept running counts only what it spent."""

from __future__ import annotations

from dalrn_cli.load_meter import per_dispute


def _reading(worker_cpu: dict[str, float], disputes: int, gateway_cpu: float) -> dict:
    return {"cpu": {"gateway": gateway_cpu}, "worker_cpu": worker_cpu, "stages": {"negotiate": disputes * 0.5},
            "disputes": disputes, "at": 0.0}


def test_a_worker_restarted_under_its_name_counts_from_zero():
    before = _reading({"w1:100": 50.0, "w2:101": 40.0}, disputes=10, gateway_cpu=5.0)
    after = _reading({"w1:200": 3.0, "w2:101": 46.0}, disputes=14, gateway_cpu=7.0)  # w1 restarted as pid 200
    cpu, stages = per_dispute(before, after, count=4)
    assert cpu["workers"] == round((3.0 + 6.0) / 4, 3)  # the summed-by-name meter said (49 - 90) / 4 < 0
    assert cpu["gateway"] == 0.5
    assert stages == {"negotiate": 0.5}


def test_cpu_per_dispute_is_never_negative():
    before = _reading({"w1:100": 80.0}, disputes=0, gateway_cpu=1.0)
    after = _reading({"w1:100": 80.0, "w3:300": 0.2}, disputes=1, gateway_cpu=1.0)
    cpu, _ = per_dispute(before, after, count=1)
    assert cpu["workers"] == 0.2 and all(v >= 0 for v in cpu.values())


def test_a_tree_counts_the_cpu_of_children_that_ended():
    """PostgreSQL's backends end with their connections; their CPU must still count."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from dalrn_cli.load_meter import _tree_cpu_s

    parent = subprocess.Popen([sys.executable, "-c", (
        "import subprocess, sys, time\n"
        "subprocess.run([sys.executable, '-c', 'x = 0\\nfor i in range(30_000_000): x += i'])\n"
        "print('child done', flush=True)\n"
        "time.sleep(30)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout.readline().strip() == "child done"
        spent = _tree_cpu_s(parent.pid)
        stat = Path(f"/proc/{parent.pid}/stat").read_text().rsplit(")", 1)[1].split()
        own = int(stat[11]) + int(stat[12])
        assert spent - own / os.sysconf("SC_CLK_TCK") >= 0.5  # the ended child's second or so of CPU
    finally:
        parent.kill()
        parent.wait()
