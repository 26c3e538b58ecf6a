"""A stderr that does not keep up never holds a request (core/log_writer.c).

The daemon's stderr is a pipe this test leaves unread: once the pipe's 64 KiB
are full, write(2) blocks.  Requests must still be answered; the log lines
that do not fit the writer's buffer are dropped and counted, and the count
is reported once the pipe is read again, so that every access line is either
written or counted.  A daemon whose stderr is never read still exits on
SIGTERM.
"""

import json
import signal
import threading
import time
import unittest

import harness
from harness import Cluster, Daemon

# Access lines are about 150 bytes: this many overflow the pipe (64 KiB) and
# the writer's buffer (1 MiB) with room to spare.
BURST = 9000


def read_metrics(daemon):
    """(requests the daemon has finished, log lines it has dropped), by its
    /metrics (which does not count the /metrics request itself until it is
    over)."""
    r = daemon.request("GET", "/metrics", token=None)
    assert r.status == 200, r
    total = dropped = 0
    for line in r.text.splitlines():
        if line.startswith("loyalty_http_requests_total{"):
            total += int(float(line.rsplit(" ", 1)[1]))
        elif line.startswith("loyalty_log_lines_dropped_total "):
            dropped = int(line.rsplit(" ", 1)[1])
    return total, dropped


class Reader(threading.Thread):
    """Reads a pipe of JSON lines to its end, counting the access lines and
    the dropped lines reported."""

    def __init__(self, pipe):
        super().__init__(daemon=True)
        self.pipe = pipe
        self.lines = []
        self.access = 0
        self.dropped = 0
        self.cond = threading.Condition()

    def run(self):
        for raw in self.pipe:
            line = raw.decode("utf-8", "replace")
            doc = json.loads(line)
            with self.cond:
                self.lines.append(line)
                if doc.get("msg") == "access":
                    self.access += 1
                elif doc.get("msg") == "log lines dropped":
                    self.dropped += int(doc["detail"].split(" ", 1)[0])
                self.cond.notify_all()

    def wait_for(self, predicate, timeout):
        """Waits until predicate() holds; False on timeout."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
            return True


class LogPipeTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.cluster = Cluster()
        cls.db = cls.cluster.create_database()

    @classmethod
    def tearDownClass(cls):
        cls.cluster.drop_database(cls.db)
        super().tearDownClass()

    def burst(self, daemon, n):
        """n requests, each answered within a few seconds (a worker blocked
        on stderr would answer none)."""
        for i in range(n):
            r = daemon.request("GET", "/healthz", token=None, timeout=5.0)
            self.assertEqual(r.status, 200, "request %d: %r" % (i, r))

    def test_every_access_line_is_written_or_counted(self):
        d = Daemon(self.db, threads=1, stderr_pipe=True)
        try:
            self.burst(d, BURST)
            served, dropped_by_metrics = read_metrics(d)
            served += 1  # and the /metrics request itself
            reader = Reader(d.proc.stderr)
            reader.start()
            # The writer reports what it dropped once it can write again.
            self.assertTrue(
                reader.wait_for(lambda: reader.access + reader.dropped >= served, 30.0),
                "written %d + dropped %d < served %d" % (reader.access, reader.dropped, served))
            d.stop()
            reader.join(10.0)
            self.assertFalse(reader.is_alive())
            self.assertEqual(reader.access + reader.dropped, served,
                             "access lines written + dropped != requests served")
            self.assertGreater(reader.access, 0)
            # /metrics counted the drops up to its own request; later ones
            # (its access line, perhaps) only the reports count.
            self.assertGreater(dropped_by_metrics, 0)
            self.assertLessEqual(dropped_by_metrics, reader.dropped)
            self.assertLessEqual(reader.dropped - dropped_by_metrics, 1)
            text = "".join(reader.lines)
            for marker in harness.SANITIZER_MARKERS:
                self.assertNotIn(marker, text)
            self.assertIn('"msg":"stopped"', reader.lines[-1])
        finally:
            d.kill()
            d.cleanup()

    def test_stops_when_stderr_is_never_read(self):
        d = Daemon(self.db, threads=1, stderr_pipe=True)
        try:
            self.burst(d, 1000)  # more than the pipe holds
            started = time.monotonic()
            d.signal(signal.SIGTERM)
            rc = d.proc.wait(timeout=30)
            self.assertEqual(rc, 0)
            # The writer gives up on stderr after 2 s; the rest is quick.
            self.assertLess(time.monotonic() - started, 15.0)
        finally:
            d.kill()
            d.cleanup()


if __name__ == "__main__":
    unittest.main()
