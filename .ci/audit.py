"""Dependency audit with pip-audit that never reports "no vulnerabilities" for an audit
that checked nothing.

pip-audit exits 0 and prints "No known vulnerabilities found" when the advisory service
knows none of the installed packages (here: a PyPI mirror whose JSON API answers 404 for
every release). We read its JSON report instead: no package audited means SKIPPED (exit 0,
said plainly); any known vulnerability fails (exit 1); pip-audit's own failure fails.
"""

import json
import subprocess  # nosec B404: runs the pinned pip-audit from this venv, no shell
import sys
import tempfile
from pathlib import Path


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "audit.json"
        done = subprocess.run(  # nosec B603: fixed argument list, no shell
            [sys.executable, "-m", "pip_audit", "--local", "--skip-editable",
             "--progress-spinner", "off", "--format", "json", "--output", str(report)],
            capture_output=True, text=True, check=False, timeout=600)
        if not report.exists():
            print(done.stderr.strip())
            print(f"dependency audit FAILED: pip-audit exited {done.returncode} without a report")
            return 1
        deps = json.loads(report.read_text())["dependencies"]
    audited = [d for d in deps if "skip_reason" not in d]
    vulnerable = [d for d in audited if d.get("vulns")]
    for d in vulnerable:
        ids = ", ".join(v["id"] for v in d["vulns"])
        print(f"  {d['name']} {d['version']}: {ids}")
    if vulnerable:
        print(f"dependency audit FAILED: {len(vulnerable)} package(s) with known vulnerabilities")
        return 1
    if done.returncode != 0:
        print(done.stderr.strip())
        print(f"dependency audit FAILED: pip-audit exited {done.returncode}")
        return 1
    if not audited:
        print(f"dependency audit SKIPPED: the advisory service knew none of the {len(deps)} "
              "installed packages (no advisory data reachable); nothing was checked")
        return 0
    print(f"dependency audit passed: {len(audited)} of {len(deps)} packages checked, "
          f"no known vulnerabilities ({len(deps) - len(audited)} not known to the service)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
