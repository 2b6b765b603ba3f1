"""Run a command on a busy machine: ``python tests/busy.py pytest -q`` (``make test-busy``).

Twice as many CPU-bound processes as the machine has cores compete with the
command for as long as it runs, as on a shared CI runner or a laptop that is
building something else. The suite must pass like this: its waits are bounded
on conditions, never on how fast the machine is (see ``TEST_TIMEOUT_SCALE``).
Each busy process ends when this one does, however it ends: they are killed
after the command, and each also stops by itself once its parent is gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

# Spins until its parent (this script) is gone, even if the script is SIGKILLed.
SPIN = "import os\nparent = os.getppid()\nwhile os.getppid() == parent:\n    pass\n"


def hear_ctrl_c() -> None:
    """In the command's process, before it starts: Ctrl+C is its own again."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def main(command: list[str]) -> int:
    if not command:
        print(__doc__.splitlines()[0], file=sys.stderr)
        return 2
    count = 2 * (os.cpu_count() or 1)
    # SIGTERM (a CI job cancelled) unwinds this script; Ctrl+C is the command's to handle
    # (its own cleanup: servers stopped, databases dropped), so only the command hears it.
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    busy = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(count)]
    print(f"{count} busy processes compete with: {' '.join(command)}", flush=True)
    process = subprocess.Popen(command, preexec_fn=hear_ctrl_c)
    try:
        return process.wait()
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait()
        for spinner in busy:
            spinner.kill()
        for spinner in busy:
            spinner.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
