"""A time limit for the bad-input tests: an argument that is checked first answers at once, so a call still running
after the limit means the check came too late (or a loop has no bound). SIGALRM: POSIX, main thread."""
import signal
from contextlib import contextmanager


@contextmanager
def time_limit(seconds: int, why: str):
    """Raise TimeoutError, saying `why`, if the block runs longer than `seconds`."""
    def stop(signum, frame):
        raise TimeoutError(f"no answer after {seconds} s: {why}")
    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
