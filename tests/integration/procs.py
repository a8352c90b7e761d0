"""Process helpers shared by the servers the integration tests start
(kafka_broker.py, postgres_server.py, debezium_connect.py).

    free_port()              a free TCP port on 127.0.0.1
    die_with_parent()        preexec_fn: the child is SIGKILLed when the test process dies
                             (PR_SET_PDEATHSIG; set after any uid switch, which clears it)
    tail(path, lines)        the last lines of a log file, for error messages
    stop(proc, sig, timeout, group)
                             signal a server, SIGKILL its process group after `timeout`
"""
import ctypes
import os
import signal
import socket
import subprocess


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def die_with_parent():
    # Runs in the child between fork and exec (after subprocess switched
    # user, when it does): SIGKILL it when we die.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def tail(path, lines=30):
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no output)"
    return "\n".join(text[-lines:]) or "(no output)"


def stop(proc, sig, timeout, group=True):
    """Sends `sig` to `proc` (to its whole process group when `group`), waits
    `timeout` seconds, then SIGKILLs the group. Nothing to do when it has
    already exited or is None."""
    if proc is None or proc.poll() is not None:
        return
    try:
        (os.killpg if group else os.kill)(proc.pid, sig)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass
