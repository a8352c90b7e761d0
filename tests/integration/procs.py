"""Process helpers shared by the servers the integration tests start
(kafka_broker.py, postgres_server.py, debezium_connect.py).

    free_port()              a free TCP port on 127.0.0.1
    die_with_parent()        preexec_fn: the child is SIGKILLed when the test process dies
                             (PR_SET_PDEATHSIG; set after any uid switch, which clears it)
    tail(path, lines)        the last lines of a log file, for error messages
"""
import ctypes
import signal
import socket


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
