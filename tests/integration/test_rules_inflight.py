"""Rule versions and purchases in flight (issue 4): a purchase computes with
the one version it started with, whatever PUT /v1/rules does meanwhile; right
after a PUT's 200 the next purchase on that daemon records the new version;
another daemon uses it within 1 s; GET /v1/purchases/{id} shows the version
the purchase recorded.

Every version this module activates differs from the one before it in both
the earn rate and the basic tier's discount (SPECS), and a purchase is 40
lines of 1000 minor units in a category no rule singles out, so each version
gives one exact (discount_total, points_earned) and a purchase that mixed two
versions (discount of one, rate of the other) matches none.

Two tests: one purchase held in the database (a row lock taken with psql)
while a PUT commits and the daemon switches, which must finish on its old
version; and six threads posting purchases without pause while six PUTs
alternate between the daemons, where every purchase must record a version
that was active on its daemon at some point between its sending and its
answer, with exactly that version's numbers.

Two daemons share one database.  After every test the ledger invariant holds
(`loyaltyd check` exits 0)."""

import datetime
import secrets
import threading
import time
import unittest

import harness
from harness import Cluster, Daemon, enroll, make_key, q

SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))
PROPAGATION_S = 1.0
NLINES = 40
UNIT_PRICE = 1000
# (earn points_per_unit, basic tier discount_pct).  Per line of 1000:
# discount 0 / 100 / 200 and points 10 / 18 / 24; the six mixes give
# 20 / 30 / 9 / 27 / 8 / 16 points, so none passes for a real version.
SPECS = [(1, 0), (2, 10), (3, 20)]
WORKERS_PER_DAEMON = 3
PUT_ROUNDS = 6           # versions activated while purchases keep coming
PURCHASES_PER_ROUND = 2  # each worker's purchases sent after a PUT's 200, before the next PUT


def rules_doc(spec):
    rate, discount = spec
    return {
        "currency": "CNY",
        "timezone": "Asia/Shanghai",
        "earn": {"points_per_unit": rate, "unit": 100, "excluded_categories": [],
                 "category_multipliers": {}},
        "tiers": [{"code": "basic", "name": "Basic", "min_spend": 0,
                   "discount_pct": discount, "points_multiplier": 1}],
        "tier_window_days": 365,
        "tier_downgrade_grace_days": 0,
        "birthday": {"window": "day", "multiplier": 1, "bonus_points": 0},
        "referral": {"referrer_points": 0, "referee_points": 0, "min_first_purchase": 0},
        "promotions": [],
        "redemption": {"points_per_unit": 100, "max_bill_pct": 50},
        "expiry": {"months": 12},
        "pending_days": 0,
        "max_discount_pct": 50,
    }


def expected(spec):
    """(discount_total, points_earned, points of one line) for a purchase under `spec`."""
    rate, discount = spec
    line_discount = UNIT_PRICE * discount // 100
    line_points = (UNIT_PRICE - line_discount) * rate // 100
    return NLINES * line_discount, NLINES * line_points, line_points


def purchase_body(member):
    t = datetime.datetime.now(SHANGHAI) - datetime.timedelta(seconds=60)
    return {"store_id": "S001", "terminal_id": "T01",
            "pos_transaction_id": "T-" + secrets.token_hex(8), "member_id": member["id"],
            "occurred_at": t.replace(microsecond=0).isoformat(),
            "items": [{"sku": "G%02d" % i, "category": "grocery", "quantity": 1,
                       "unit_price": UNIT_PRICE} for i in range(NLINES)]}


class Sent:
    """One request as the client saw it: sent at `t0`, answered at `t1`
    (time.monotonic()), so the server handled it somewhere in between."""

    def __init__(self, where, t0, t1, resp, who=""):
        self.where, self.t0, self.t1, self.resp, self.who = where, t0, t1, resp, who
        self.doc = resp.json() if resp.status in (200, 201) else None

    def __repr__(self):
        return "<%s on %s %.3f-%.3f %r>" % (self.who, self.where, self.t0, self.t1, self.resp)


class InflightCase(unittest.TestCase):
    """Daemons a and b (4 threads each) on one database; a pos key."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.cluster = Cluster()
        cls.db = cls.cluster.create_database()
        cls.daemons = []
        try:
            cls.a = Daemon(cls.db, threads=4)
            cls.daemons.append(cls.a)
            cls.b = Daemon(cls.db, admin_key=cls.a.admin_key, threads=4)
            cls.daemons.append(cls.b)
            cls.a.name, cls.b.name = "a", "b"
            cls.pos = make_key(cls.a, "pos")["key"]
        except BaseException:
            cls.tearDownClass()
            raise
        cls.spec_of = {}  # version -> SPECS entry, for every version PUT by this module

    @classmethod
    def tearDownClass(cls):
        try:
            for d in cls.daemons:
                d.stop()
                d.cleanup()
        finally:
            cls.cluster.drop_database(cls.db)
            super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.addCleanup(self.assert_ledger_invariant)

    def assert_ledger_invariant(self):
        p = harness.run_cli(["check"], dburl=self.db)
        self.assertEqual(p.returncode, 0, "loyaltyd check: %r" % (p.stderr[-2000:],))

    # -- helpers

    def put(self, d, spec):
        """PUT /v1/rules with `spec` on d; asserts 200; returns the Sent."""
        t0 = time.monotonic()
        r = d.request("PUT", "/v1/rules", rules_doc(spec))
        s = Sent(d.name, t0, time.monotonic(), r, "PUT")
        self.assertEqual(r.status, 200, r)
        self.spec_of[s.doc["version"]] = spec
        return s

    def post(self, d, member, who="main"):
        t0 = time.monotonic()
        r = d.request("POST", "/v1/purchases", purchase_body(member), token=self.pos)
        return Sent(d.name, t0, time.monotonic(), r, who)

    def served_version(self, d):
        r = d.request("GET", "/v1/rules")
        self.assertEqual(r.status, 200, r)
        return r.json()["version"]

    def wait_served(self, d, version, since):
        """Polls GET /v1/rules on d until it serves `version`, activated by a
        PUT answered at `since`; a request sent PROPAGATION_S after that must
        see it.  Returns a time by which d served it."""
        while True:
            t0 = time.monotonic()
            served = self.served_version(d)
            if served >= version:
                return min(time.monotonic(), since + PROPAGATION_S)
            self.assertLess(t0 - since, PROPAGATION_S, "%s still serves version %d %.2f s after "
                            "version %d was activated" % (d.name, served, t0 - since, version))
            time.sleep(0.01)  # polling a condition with a deadline

    def assert_computed_with(self, s, version):
        """s is a 201 purchase computed entirely with `version`."""
        self.assertEqual(s.resp.status, 201, s)
        doc = s.doc
        self.assertEqual(doc["rules_version"], version, s)
        self.check_numbers(s)

    def check_numbers(self, s):
        """The purchase's numbers are exactly those of the version it records."""
        doc = s.doc
        v = doc["rules_version"]
        self.assertIn(v, self.spec_of, "purchase recorded version %d, which this test never "
                      "activated: %r" % (v, s))
        discount, points, line_points = expected(self.spec_of[v])
        got = (doc["discount_total"], doc["points_earned"], [ln["points"] for ln in doc["lines"]])
        self.assertEqual(got, (discount, points, [line_points] * NLINES),
                         "numbers of a purchase recorded with version %d (spec %r) are not that "
                         "version's: %r" % (v, self.spec_of[v], s))

    def check_read_back(self, s):
        r = self.a.request("GET", "/v1/purchases/%s" % q(s.doc["id"]), token=self.pos)
        self.assertEqual(r.status, 200, r)
        g = r.json()
        self.assertEqual((g["rules_version"], g["points_earned"], g["discount_total"]),
                         (s.doc["rules_version"], s.doc["points_earned"],
                          s.doc["discount_total"]), r)


class BlockedPurchaseTest(InflightCase):

    def test_purchase_blocked_across_a_put_finishes_on_its_version(self):
        """A purchase on a takes its snapshot, then waits for its member's row
        while a new version is PUT on b and becomes active on a: it still
        records, and computes with, the version it started with.

        The PUT goes to b because a's worker thread that runs the blocked
        purchase also serves every other connection it was given, so a request
        to a could wait behind it; a's switch is read from its log instead."""
        p = self.put(self.a, SPECS[0])
        old = p.doc["version"]
        self.wait_served(self.b, old, p.t1)
        m = enroll(self.a)
        other = enroll(self.a)
        lock = harness.RowLock(self.cluster, self.db, m)
        result = []
        t = threading.Thread(target=lambda: result.append(self.post(self.a, m, "blocked")))
        try:
            t.start()
            # The purchase is waiting for the row: it has its snapshot already.
            waiting, _ = harness.poll_until(lambda: self.cluster.psql(
                self.db, "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                "current_database() AND wait_event_type = 'Lock';").strip() == "1", 10.0)
            self.assertTrue(waiting, "the purchase never waited for the member's row")
            p = self.put(self.b, SPECS[1])
            new = p.doc["version"]
            self.assertEqual(new, old + 1)
            self.assert_computed_with(self.post(self.b, other), new)
            # Its log says when a serves the new version (slack for writing the line).
            active, _ = harness.poll_until(lambda: any(
                j.get("msg") == "rules version active" and j.get("version") == new
                for j in self.a.log_json()), p.t1 + PROPAGATION_S + 0.5 - time.monotonic())
            self.assertTrue(active, "a did not activate version %d within %.1f s of the PUT:\n%s"
                            % (new, PROPAGATION_S, self.a.log_tail()))
        finally:
            # Before the daemon's lock_timeout (5 s) gives up on the purchase.
            lock.release()
            t.join(60)
        self.assertFalse(t.is_alive())
        self.assertEqual(len(result), 1, "the blocked purchase raised (see above)")
        self.assert_computed_with(result[0], old)
        self.check_read_back(result[0])
        # The next purchases on a take the new version.
        self.assert_computed_with(self.post(self.a, m), new)
        self.assert_computed_with(self.post(self.a, other), new)


class PurchasesDuringPutsTest(InflightCase):

    def test_every_purchase_uses_one_version_active_during_it(self):
        """Purchases posted without pause by six threads (three per daemon)
        while the main thread PUTs six versions, alternately on a and b."""
        d_of = {"a": self.a, "b": self.b}
        other = {"a": "b", "b": "a"}
        base = self.put(self.a, SPECS[0])
        puts = [base]
        # adopted[(version, daemon)]: a time by which that daemon served it.
        adopted = {(base.doc["version"], "a"): base.t1,
                   (base.doc["version"], "b"): self.wait_served(self.b, base.doc["version"],
                                                                     base.t1)}
        prober = enroll(self.a)
        workers = [(d, enroll(self.a)) for d in (self.a, self.b)
                   for _ in range(WORKERS_PER_DAEMON)]
        sent = []          # every purchase: Sent
        per_worker = [[] for _ in workers]
        failures = []
        stop = threading.Event()
        cond = threading.Condition()
        progress = {"since": time.monotonic(), "done": [0] * len(workers)}

        def work(i, d, member):
            try:
                while not stop.is_set():
                    s = self.post(d, member, "worker%d" % i)
                    with cond:
                        sent.append(s)
                        per_worker[i].append(s)
                        if s.resp.status != 201:
                            failures.append(s)
                        if s.t0 >= progress["since"]:
                            progress["done"][i] += 1
                        cond.notify_all()
            except Exception as ex:  # reported by the main thread
                with cond:
                    failures.append(ex)
                    cond.notify_all()

        threads = [threading.Thread(target=work, args=(i, d, m))
                   for i, (d, m) in enumerate(workers)]
        for t in threads:
            t.start()
        try:
            for k in range(PUT_ROUNDS):
                src = "a" if k % 2 == 0 else "b"
                p = self.put(d_of[src], SPECS[(k + 1) % len(SPECS)])
                v = p.doc["version"]
                self.assertEqual(v, puts[-1].doc["version"] + 1, p)
                puts.append(p)
                adopted[(v, src)] = p.t1
                with cond:
                    progress["since"] = p.t1
                    progress["done"] = [0] * len(workers)
                # The next purchase on the same daemon records the new version.
                s = self.post(d_of[src], prober)
                with cond:
                    sent.append(s)
                self.assert_computed_with(s, v)
                # The other daemon uses it within PROPAGATION_S of the commit, which
                # came before the PUT's answer: a purchase sent there later records it.
                while True:
                    s = self.post(d_of[other[src]], prober)
                    with cond:
                        sent.append(s)
                    self.assertEqual(s.resp.status, 201, s)
                    if s.doc["rules_version"] >= v:
                        self.assert_computed_with(s, v)
                        adopted[(v, other[src])] = min(s.t1, p.t1 + PROPAGATION_S)
                        break
                    self.assertLess(s.t0 - p.t1, PROPAGATION_S,
                                    "%s still computes with version %d in a purchase sent %.2f s "
                                    "after version %d was activated on %s"
                                    % (other[src], s.doc["rules_version"], s.t0 - p.t1, v, src))
                # Every worker gets purchases through under this version.
                with cond:
                    ok = cond.wait_for(lambda: failures or min(progress["done"])
                                       >= PURCHASES_PER_ROUND, timeout=60)
                    self.assertEqual(failures, [])
                    self.assertTrue(ok, "workers made no progress: %r" % progress)
        finally:
            stop.set()
            for t in threads:
                t.join(60)
        self.assertEqual(failures, [])
        self.assertFalse(any(t.is_alive() for t in threads))

        # When each version could have been in use on each daemon: from its
        # PUT being sent to the moment that daemon is known to serve the next.
        start = {p.doc["version"]: p.t0 for p in puts}
        end = {}
        for prev, nxt in zip(puts, puts[1:]):
            for dn in ("a", "b"):
                end[(prev.doc["version"], dn)] = adopted[(nxt.doc["version"], dn)]
        overlapping = 0
        for s in sent:
            self.assertEqual(s.resp.status, 201, s)
            self.check_numbers(s)
            v = s.doc["rules_version"]
            self.assertGreaterEqual(s.t1, start[v], "version %d recorded by a purchase answered "
                                    "before that version's PUT was sent: %r" % (v, s))
            self.assertLessEqual(s.t0, end.get((v, s.where), float("inf")),
                                 "version %d recorded by a purchase sent after %s served a "
                                 "newer version: %r" % (v, s.where, s))
            overlapping += any(s.t0 < p.t1 and s.t1 > p.t0 for p in puts[1:])
        # The race was run: purchases were in flight while PUTs were.
        self.assertGreater(overlapping, 0, "no purchase overlapped a PUT")
        # A daemon never goes back to an older version.
        for i, mine in enumerate(per_worker):
            versions = [s.doc["rules_version"] for s in mine]
            self.assertEqual(versions, sorted(versions), "worker %d on %s" % (i, workers[i][0].name))
        # Reading a purchase back shows the version it recorded.
        for s in sent:
            self.check_read_back(s)
        # Every point is in the balance, no more and no less.
        for m in [prober] + [m for _, m in workers]:
            r = self.a.request("GET", "/v1/members/%s" % q(m["id"]))
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["points_balance"],
                             sum(s.doc["points_earned"] for s in sent
                                 if s.doc["member_id"] == m["id"]), m["id"])


if __name__ == "__main__":
    harness.main()
