import os
import signal

import pytest

from tests.integration.test_worker_killed import FORKED_WORKERS


@pytest.fixture(autouse=True)
def no_forked_worker_outlives_its_test():
    yield
    for pid in list(FORKED_WORKERS):
        FORKED_WORKERS.discard(pid)
        try:
            if os.waitpid(pid, os.WNOHANG) != (0, 0):
                continue  # already ended; now reaped
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass  # the test reaped it
