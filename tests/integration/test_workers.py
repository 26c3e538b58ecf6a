"""A write waiting for the database holds up nothing else on its worker
(issue 3, concurrency): handlers run in fibers, so while one request's
statement waits, the worker serves its other requests.

One daemon with one worker thread and two database connections of its own.
A psql session locks member A's row; a purchase for A then waits in the
database on one of the worker's connections.  While it waits (and the lock
is still held, so it cannot have finished), a balance read, a member read,
a purchase for member B and a third request that has to queue for a
connection are all answered by that same worker.  Then the lock goes and
A's purchase is recorded: 201 with its exact points, not a 503 from the
daemon's 5 s lock_timeout.  The ledger invariant holds afterwards.

With workers that block in libpq, every request after A's purchase would
wait behind it until the lock is released (or the lock timeout fails it).

And a stop: SIGTERM while such a purchase waits refuses new requests on
connections kept alive, lets the purchase finish, then exits cleanly; and
it still exits cleanly after clients hung up on their requests."""

import datetime
import json
import os
import re
import secrets
import signal
import socket
import threading
import time

import harness
from harness import DaemonTestCase, enroll, q

SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))


def purchase_body(member):
    t = datetime.datetime.now(SHANGHAI) - datetime.timedelta(seconds=60)
    # The default rules: 2 x 1250 fresh earns 25 x 2 = 50 and 3999 grocery
    # earns 39 (1 point per full 100): 89 points.
    return {"store_id": "S001", "terminal_id": "T01",
            "pos_transaction_id": "W-" + secrets.token_hex(8), "member_id": member["id"],
            "occurred_at": t.replace(microsecond=0).isoformat(),
            "items": [{"sku": "A1", "category": "fresh", "quantity": 2, "unit_price": 1250},
                      {"sku": "B7", "category": "grocery", "quantity": 1, "unit_price": 3999}]}


def waiting_for_locks(tc):
    """How many sessions of the test's database wait for a lock."""
    return int(tc.psql("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                       "current_database() AND wait_event_type = 'Lock';").strip())


def purchase_behind_lock(tc, member, waiters):
    """Posts a purchase for `member` (whose row is locked) on a thread of
    its own; returns (thread, [response]) once `waiters` sessions wait for
    a lock, the purchase among them."""
    out = []
    t = threading.Thread(target=lambda: out.append(
        tc.daemon.request("POST", "/v1/purchases", purchase_body(member))))
    t.start()
    waiting, _ = harness.poll_until(lambda: waiting_for_locks(tc) == waiters, 10.0)
    tc.assertTrue(waiting, "the purchase never waited for the member's row")
    return t, out


def others_pass(tc, member, waiter, waiters):
    """While the thread `waiter` waits in the database, with `waiters`
    sessions waiting for locks in all: a balance read and a purchase for
    `member` are answered, and nothing they did ended the wait."""
    r = tc.req("GET", "/v1/members/%s/balance" % q(member["id"]))
    tc.assertEqual(r.status, 200, r)
    r = tc.req("POST", "/v1/purchases", purchase_body(member))
    tc.assertEqual(r.status, 201, r)
    tc.assertEqual(r.json()["points_earned"], 89)
    tc.assertTrue(waiter.is_alive())
    tc.assertEqual(waiting_for_locks(tc), waiters)


def refused(tc):
    """GET /healthz on this thread's connection: the answer once it is the
    refusal (the stop is seen by the worker at its next request)."""
    r = tc.req("GET", "/healthz")
    return r if r.status == 503 else None


def release_then_join(tc, lock, thread):
    """Ends the lock, then asserts that `thread` (None: never started)
    ends too."""
    lock.release()
    if thread is not None:
        thread.join(60)
        tc.assertFalse(thread.is_alive())


class OneWorkerTest(DaemonTestCase):
    # One worker thread: every request below is served by it.
    daemon_threads = 1
    daemon_args = ("--pool-size", "2")

    def test_requests_pass_a_write_waiting_in_the_database(self):
        a, b = enroll(self.daemon), enroll(self.daemon)
        lock = harness.RowLock(self.cluster, self.db, a)
        t = t2 = t3 = None
        try:
            t, result = purchase_behind_lock(self, a, 1)
            r = self.req("GET", "/v1/members/%s/balance" % q(b["id"]))
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["points_balance"], 0)
            r = self.req("GET", "/v1/members/%s" % q(b["id"]))
            self.assertEqual(r.status, 200, r)
            r = self.req("POST", "/v1/purchases", purchase_body(b))
            self.assertEqual(r.status, 201, r)
            self.assertEqual(r.json()["points_earned"], 89)

            # A second write for A also waits for the row, on the worker's
            # other connection; a third request then queues for a
            # connection, without holding up a read meanwhile.
            t2, second = purchase_behind_lock(self, a, 2)
            third = []
            t3 = threading.Thread(target=lambda: third.append(
                self.daemon.request("GET", "/v1/members/%s" % q(b["id"]))))
            t3.start()
            r = self.req("GET", "/v1/members/%s/balance" % q(b["id"]))
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["points_balance"], 89)
            # Nothing A's purchases wait for has moved.
            self.assertTrue(t.is_alive() and t2.is_alive())
            self.assertEqual(waiting_for_locks(self), 2)
        finally:
            lock.release()
            for th in (t, t2, t3):
                if th is not None:
                    th.join(60)
        self.assertFalse(t.is_alive() or t2.is_alive() or t3.is_alive())
        self.assertEqual([r.status for r in result + second + third], [201, 201, 200],
                         result + second + third)
        self.assertEqual([r.json()["points_earned"] for r in result + second], [89, 89])
        r = self.req("GET", "/v1/members/%s/balance" % q(a["id"]))
        self.assertEqual(r.json()["points_balance"], 178)
        self.assert_ledger_invariant()


class ManyConnectionsOneWorkerTest(DaemonTestCase):
    """One worker with a large pool: every connection its fibers use is
    watched by its loop, however many there are.  Eighteen adjustments wait
    for locked member rows, each on a connection of its own (adjustments
    join no group, unlike purchases and redemptions:
    test_purchase_groups.py); the worker still answers a balance read, and
    then records all eighteen."""

    daemon_threads = 1
    daemon_args = ("--pool-size", "20")

    def test_eighteen_writes_wait_and_a_read_passes(self):
        members = [enroll(self.daemon) for _ in range(18)]
        other = enroll(self.daemon)
        ids = ",".join(str(harness.id_num(m["id"])) for m in members)
        lock = harness.LockSession(
            self.cluster, self.db,
            "SELECT DISTINCT 'locked' FROM (SELECT id FROM members WHERE id IN (%s) "
            "FOR UPDATE) x;" % ids)
        threads, out = [], []
        try:
            for m in members:
                t = threading.Thread(target=lambda m=m: out.append(self.daemon.request(
                    "POST", "/v1/members/%s/adjustments" % q(m["id"]),
                    {"points": 89, "reason": "waits for its row"})))
                t.start()
                threads.append(t)
            waiting, _ = harness.poll_until(lambda: waiting_for_locks(self) == 18, 10.0)
            self.assertTrue(waiting, "not all eighteen adjustments waited for their rows")
            r = self.req("GET", "/v1/members/%s/balance" % q(other["id"]))
            self.assertEqual(r.status, 200, r)
            self.assertEqual(len(out), 0)
        finally:
            lock.release()
            for t in threads:
                t.join(60)
        self.assertEqual(sorted(r.status for r in out), [201] * 18, out)
        self.assertEqual({r.json()["balance_after"] for r in out}, {89})
        self.assert_ledger_invariant()


class AuthLookupBesideTheWorkerTest(DaemonTestCase):
    """A credential the cache does not know is looked up in the database
    without holding up the worker.  A psql session locks member_tokens, so
    the look-ups of two fresh member tokens wait: one client waits for its
    answer, the other hangs up.  Meanwhile the one worker answers a balance
    read and a purchase made with a key it knows; once the lock goes the
    waiting client gets its 200, and a stop is clean."""

    daemon_threads = 1

    def test_requests_pass_a_credential_look_up(self):
        m = enroll(self.daemon)
        tokens = [harness.member_token(self.daemon, m["id"])["token"] for _ in range(2)]
        self.assertEqual(self.req("GET", "/v1/members/%s" % q(m["id"])).status, 200)
        lock = harness.LockSession(self.cluster, self.db,
                                   "LOCK TABLE member_tokens IN ACCESS EXCLUSIVE MODE; "
                                   "SELECT 'locked';")
        t, out, gone = None, [], None
        try:
            t = threading.Thread(target=lambda: out.append(
                self.daemon.request("GET", "/v1/me", token=tokens[0])))
            t.start()
            waiting, _ = harness.poll_until(lambda: waiting_for_locks(self) == 1, 10.0)
            self.assertTrue(waiting, "the look-up never waited for member_tokens")
            gone = socket.create_connection(("127.0.0.1", self.daemon.port), timeout=10)
            gone.sendall(("GET /v1/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n"
                          % tokens[1]).encode())
            waiting, _ = harness.poll_until(lambda: waiting_for_locks(self) == 2, 10.0)
            self.assertTrue(waiting, "the second look-up never waited for member_tokens")
            gone.close()
            others_pass(self, m, t, 2)
        finally:
            release_then_join(self, lock, t)
        self.assertEqual([r.status for r in out], [200], out)
        self.assertEqual(out[0].json()["id"], m["id"])
        self.assertEqual(out[0].json()["points_balance"], 89)
        self.daemon.stop(timeout=10.0)  # asserts exit code 0 and no sanitizer report
        self.assert_ledger_invariant()


class HangingProxy:
    """TCP on 127.0.0.1 to the cluster's unix socket, byte for byte; while
    `hang` is set, a new connection is accepted and then never answered,
    as by a database host that has stopped answering."""

    def __init__(self, cluster):
        self.target = os.path.join(cluster.host, ".s.PGSQL.%d" % cluster.port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.hang = threading.Event()
        self.held, self.socks = [], []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.listener.accept()
            except OSError:
                return
            self.socks.append(c)
            if self.hang.is_set():
                self.held.append(c)
                continue
            up = socket.socket(socket.AF_UNIX)
            up.connect(self.target)
            self.socks.append(up)
            for a, b in ((c, up), (up, c)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.listener.close()
        for s in self.socks:
            s.close()


class StopWithALookUpWaitingTest(DaemonTestCase):
    """SIGTERM while a credential look-up waits for a lock: the stop takes
    effect (a new request on a kept-alive connection is refused), the
    request the look-up holds is still answered once the lock goes, and
    the daemon then exits cleanly.  A held request counts among those a
    stopping worker waits for."""

    daemon_threads = 1

    def test_stop_waits_for_the_look_up(self):
        m = enroll(self.daemon)
        token = harness.member_token(self.daemon, m["id"])["token"]
        lock = harness.LockSession(self.cluster, self.db,
                                   "LOCK TABLE member_tokens IN ACCESS EXCLUSIVE MODE; "
                                   "SELECT 'locked';")
        t, out = None, []
        try:
            t = threading.Thread(target=lambda: out.append(
                self.daemon.request("GET", "/v1/me", token=token)))
            t.start()
            waiting, _ = harness.poll_until(lambda: waiting_for_locks(self) == 1, 10.0)
            self.assertTrue(waiting, "the look-up never waited for member_tokens")
            self.daemon.signal(signal.SIGTERM)
            r, _ = harness.poll_until(lambda: refused(self), 10.0)
            self.assertIsNotNone(r, "no 503 after SIGTERM")
            harness.assert_problem(self, r, 503, "unavailable")
            self.assertTrue(t.is_alive())
        finally:
            release_then_join(self, lock, t)
        self.assertEqual([r.status for r in out], [200], out)
        self.assertEqual(out[0].json()["id"], m["id"])
        self.daemon.stop(timeout=10.0)  # asserts exit code 0 and no sanitizer report


class ConnectBesideTheWorkerTest(DaemonTestCase):
    """A connect that the database's host does not answer (libpq waits up
    to its connect_timeout, 3 s) does not hold up the worker.  A daemon with
    one worker reaches the database through a proxy; its connections are
    ended, the proxy stops answering, and a purchase (in a fiber) and a
    balance read (on the worker's reader) then have to connect again.  While
    both connects hang, the worker answers /healthz at once.  Both then
    fail cleanly (503), and once the host answers again both succeed."""

    def test_health_answers_while_connects_hang(self):
        proxy = HangingProxy(self.cluster)
        dbname = re.search(r"dbname=(\S+)", self.db).group(1)
        d = harness.Daemon(harness.conninfo("127.0.0.1", proxy.port, self.cluster.user, dbname),
                           threads=1, args=("--pool-size", "2"))
        balance = "/v1/members/%s/balance"
        threads, out = [], {}
        try:
            m = enroll(d)
            self.assertEqual(d.request("POST", "/v1/purchases", purchase_body(m)).status, 201)
            self.assertEqual(d.request("GET", balance % q(m["id"])).status, 200)
            proxy.hang.set()
            # Every daemon connection but the LISTEN ones (on threads of
            # their own, they would reconnect through the proxy too).
            self.psql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                      "WHERE datname = current_database() AND application_name = 'loyaltyd' "
                      "AND query NOT LIKE 'LISTEN %';")
            # The reader sees its connection end by itself; the next read connects.
            dropped, _ = harness.poll_until(lambda: "reader connection dropped" in d.log(), 10.0)
            self.assertTrue(dropped, d.log_tail())
            calls = (("balance", lambda: d.request("GET", balance % q(m["id"]))),
                     ("purchase", lambda: d.request("POST", "/v1/purchases", purchase_body(m))))
            for k, (name, call) in enumerate(calls):
                t = threading.Thread(target=lambda n=name, c=call: out.__setitem__(n, c()))
                t.start()
                threads.append(t)
                connecting, _ = harness.poll_until(lambda: len(proxy.held) > k, 10.0)
                self.assertTrue(connecting, "the %s never connected again" % name)
                t0 = time.monotonic()
                r = d.request("GET", "/healthz", token=None)
                waited = time.monotonic() - t0
                self.assertEqual(r.status, 200, r)
                # A worker stuck in the connect would answer only after
                # libpq's 3 s connect_timeout.
                self.assertLess(waited, 1.0, "/healthz behind the %s's connect" % name)
            proxy.hang.clear()
            for t in threads:
                t.join(60)
            self.assertFalse(any(t.is_alive() for t in threads))
            harness.assert_problem(self, out["purchase"], 503, "unavailable")
            harness.assert_problem(self, out["balance"], 503, "unavailable")

            def recorded():
                r = d.request("POST", "/v1/purchases", purchase_body(m))
                return r if r.status == 201 else None
            r, _ = harness.poll_until(recorded, 10.0)
            self.assertIsNotNone(r, "no purchase recorded after the host answered again")
            self.assertEqual(r.json()["points_earned"], 89)
            r, _ = harness.poll_until(
                lambda: (lambda x: x if x.status == 200 else None)(
                    d.request("GET", balance % q(m["id"]))), 10.0)
            self.assertIsNotNone(r, "no balance read after the host answered again")
            self.assertEqual(r.json()["points_balance"], 178)
            d.stop()  # asserts exit code 0 and no sanitizer report
        finally:
            proxy.hang.clear()
            for t in threads:
                t.join(60)
            d.stop()
            proxy.close()
        self.assert_ledger_invariant()


class DailyJobBesideTheWorkerTest(DaemonTestCase):
    """POST /v1/jobs/daily runs for seconds to minutes; on a daemon with
    one worker it must not hold up every other request meanwhile.  A psql
    session locks daily_jobs, where the run records itself, so the run
    waits there; the worker still answers a balance read and a purchase,
    and once the lock goes the run answers 200."""

    daemon_threads = 1

    def test_other_requests_pass_a_running_job(self):
        m = enroll(self.daemon)
        today = self.psql("SELECT (now() AT TIME ZONE 'Asia/Shanghai')::date;").strip()
        lock = harness.LockSession(self.cluster, self.db,
                                   "LOCK TABLE daily_jobs IN EXCLUSIVE MODE; SELECT 'locked';")
        t, out = None, []
        try:
            t = threading.Thread(target=lambda: out.append(
                self.daemon.request("POST", "/v1/jobs/daily", {"date": today})))
            t.start()
            waiting, _ = harness.poll_until(lambda: waiting_for_locks(self) == 1, 10.0)
            self.assertTrue(waiting, "the job never waited for daily_jobs")
            others_pass(self, m, t, 1)
        finally:
            release_then_join(self, lock, t)
        self.assertEqual([r.status for r in out], [200], out)
        self.assertEqual(out[0].json()["date"], today)
        self.assert_ledger_invariant()


class StopWithAWriteWaitingTest(DaemonTestCase):
    """SIGTERM while a purchase waits for a row lock: a new request on a
    connection kept alive is refused (503 unavailable, Connection: close),
    the waiting purchase still finishes (201) once the lock goes, and the
    daemon then exits cleanly."""

    def test_stop_finishes_the_write_and_refuses_new_work(self):
        a = enroll(self.daemon)
        lock = harness.RowLock(self.cluster, self.db, a)
        t = None
        try:
            t, result = purchase_behind_lock(self, a, 1)
            self.daemon.signal(signal.SIGTERM)
            # This thread's connection is kept alive from enroll().
            r, _ = harness.poll_until(lambda: refused(self), 10.0)
            self.assertIsNotNone(r, "no 503 after SIGTERM")
            harness.assert_problem(self, r, 503, "unavailable")
            self.assertEqual(r.headers.get("Connection"), "close")
            self.assertTrue(t.is_alive())
        finally:
            lock.release()
            if t is not None:
                t.join(60)
        self.assertFalse(t.is_alive())
        self.assertEqual(len(result), 1)
        self.assertEqual(result[0].status, 201, result[0])
        self.assertEqual(result[0].json()["points_earned"], 89)
        self.daemon.stop()  # asserts exit code 0 and no sanitizer report
        self.assert_ledger_invariant()



class ClientsHangUpTest(DaemonTestCase):
    def test_stop_after_clients_hung_up(self):
        """Clients ask for balances and post purchases, and hang up before
        the answers come, in bursts of 32 (a till that times out and
        reconnects).  The daemon still answers others, the purchases are
        recorded, and a stop then exits at once and cleanly: a request the
        worker counted as waiting must not outlive its connection, and what
        its second half owns (a purchase's response) must still be freed.
        (Both failed: MHD ends such a connection without calling the
        handler again; the count stayed up and the stopping worker spun at
        full CPU, and the response text leaked.)"""
        a = enroll(self.daemon)
        head = "Host: x\r\nAuthorization: Bearer %s\r\n" % self.daemon.admin_key
        read = ("GET /v1/members/%s/balance HTTP/1.1\r\n%s\r\n" % (a["id"], head)).encode()
        posted = []

        def purchase():
            body = purchase_body(a)
            posted.append(body["pos_transaction_id"])
            payload = json.dumps(body).encode()
            return ("POST /v1/purchases HTTP/1.1\r\n%sContent-Type: application/json\r\n"
                    "Content-Length: %d\r\n\r\n" % (head, len(payload))).encode() + payload

        for make in (lambda: read, purchase) * 3:
            clients = [socket.create_connection(("127.0.0.1", self.daemon.port), timeout=10)
                       for _ in range(32)]
            for c in clients:
                c.sendall(make())
            for c in clients:
                c.close()
        recorded, _ = harness.poll_until(lambda: int(self.psql(
            "SELECT count(*) FROM purchases WHERE member_id = %d;"
            % harness.id_num(a["id"])).strip()) == len(posted), 30.0)
        self.assertTrue(recorded, "not every purchase of the clients that hung up was recorded")
        r = self.req("GET", "/v1/members/%s/balance" % q(a["id"]))
        self.assertEqual(r.status, 200, r)
        # 96 purchases of 64.99 lift the member to silver on the way, so
        # they do not all earn 89: the balance is what they recorded.
        earned = int(self.psql("SELECT sum(points_earned) FROM purchases WHERE member_id = %d;"
                               % harness.id_num(a["id"])).strip())
        self.assertGreater(earned, 89 * len(posted))
        self.assertEqual(r.json()["points_balance"], earned)
        self.daemon.stop(timeout=10.0)  # asserts exit code 0 and no sanitizer report
        self.assert_ledger_invariant()


class PipelinedRequestsTest(DaemonTestCase):
    def test_pipelined_requests_are_answered_in_order(self):
        """HTTP/1.1 pipelining: five requests in one write on one connection,
        each served a different way (a batched balance read that suspends, a
        purchase in a fiber, a route without a fiber, a member read, another
        purchase).  Every answer comes, in order, with its own status."""
        a = enroll(self.daemon)
        head = "Host: x\r\nAuthorization: Bearer %s\r\n" % self.daemon.admin_key

        def get(path):
            return ("GET %s HTTP/1.1\r\n%s\r\n" % (path, head)).encode()

        def post(body):
            payload = json.dumps(body).encode()
            return ("POST /v1/purchases HTTP/1.1\r\n%sContent-Type: application/json\r\n"
                    "Content-Length: %d\r\n\r\n" % (head, len(payload))).encode() + payload

        first, second = purchase_body(a), purchase_body(a)
        batch = (get("/v1/members/%s/balance" % a["id"]) + post(first) + get("/healthz") +
                 get("/v1/members/%s" % a["id"]) + post(second))
        with socket.create_connection(("127.0.0.1", self.daemon.port), timeout=30) as c:
            c.sendall(batch)
            reader = c.makefile("rb")
            answers = []
            for _ in range(5):
                status = int(reader.readline().split()[1])
                length = 0
                while True:
                    line = reader.readline().strip()
                    if not line:
                        break
                    name, _, value = line.decode().partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                answers.append((status, json.loads(reader.read(length)) if length else None))
        self.assertEqual([s for s, _ in answers], [200, 201, 200, 200, 201], answers)
        self.assertEqual(answers[0][1]["points_balance"], 0)
        self.assertEqual(answers[1][1]["pos_transaction_id"], first["pos_transaction_id"])
        self.assertEqual(answers[1][1]["balance_after"], 89)
        self.assertEqual(answers[3][1]["id"], a["id"])
        self.assertEqual(answers[4][1]["pos_transaction_id"], second["pos_transaction_id"])
        self.assertEqual(answers[4][1]["balance_after"], 178)
        self.assert_ledger_invariant()

if __name__ == "__main__":
    harness.main()
