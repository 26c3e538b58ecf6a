"""The daily job (POST /v1/jobs/daily) and its scheduler: birthday gifts,
pending-point release, expiry, tier downgrades, idempotency and concurrency,
the program time zone, the API's checks, and catching up missed dates at
start.

The job works on every member of a database, so each scenario has a class
(and a database) of its own, and each test of a class uses dates no other
test of it touches. Members, purchases and lots are backdated with SQL where
the API cannot. After every test the ledger invariant holds (`loyaltyd
check` exits 0)."""

import datetime
import secrets
import signal
import socket
import threading
import time

import harness
from harness import (Daemon, DaemonTestCase, TwoDaemonsTestCase, assert_problem, db_fingerprint,
                     enroll, error_fields, make_key, member_token, poll_until, q, run_cli)

COUNT_KEYS = ["date", "birthday_gifts", "released", "expired_points", "downgrades"]
ZERO = {"birthday_gifts": 0, "released": 0, "expired_points": 0, "downgrades": 0}


def pos_id():
    return "DJ-" + secrets.token_hex(8)


def month_start(d, months):
    """The first day of the month `months` after d's month."""
    m = d.month - 1 + months
    return datetime.date(d.year + m // 12, m % 12 + 1, 1)


class JobCase(DaemonTestCase):
    """Helpers: run the job, read dates in the program zone, backdate rows."""

    zone = "Asia/Shanghai"

    def setUp(self):
        super().setUp()
        self.addCleanup(self.assert_ledger_invariant)
        self.today = self.zone_today(self.zone)

    def zone_today(self, zone):
        out = self.psql("SELECT (now() AT TIME ZONE %s)::date;" % harness.quote_literal(zone))
        return datetime.date.fromisoformat(out.strip())

    def day(self, k):
        return (self.today + datetime.timedelta(days=k)).isoformat()

    def job(self, date, daemon=None, expect=None):
        r = (daemon or self.daemon).request("POST", "/v1/jobs/daily", {"date": date})
        self.assertEqual(r.status, 200, r)
        doc = r.json()
        self.assertEqual(list(doc), COUNT_KEYS, r)
        self.assertEqual(doc["date"], date)
        if expect is not None:
            self.assertEqual({k: doc[k] for k in COUNT_KEYS[1:]}, dict(ZERO, **expect), r)
        return doc

    def fingerprint_but_jobs(self):
        # Every run also refreshes the insight snapshot of its date (issue 6).
        return db_fingerprint(self.cluster, self.db, exclude=(
            "daily_jobs", "member_insights", "insight_snapshots", "insight_groups",
            "insight_deciles"))

    def num(self, member):
        return int(member["id"].rpartition("_")[2])

    def sql_rows(self, sql):
        return [line.split("|") for line in self.psql(sql).splitlines() if line]

    def backdate_enrolment(self, member, date):
        self.psql("UPDATE members SET enrolled_at = %s::timestamptz WHERE id = %d;"
                  % (harness.quote_literal(date), self.num(member)))

    def member(self, enrolled=None, **fields):
        m = enroll(self.daemon, **fields)
        if enrolled is not None:
            self.backdate_enrolment(m, enrolled)
        return m

    def get_member(self, member):
        r = self.req("GET", "/v1/members/" + q(member["id"]))
        self.assertEqual(r.status, 200, r)
        return r.json()

    def purchase(self, member, amount, occurred_at, **extra):
        body = {"store_id": "S001", "terminal_id": "T01", "pos_transaction_id": pos_id(),
                "member_id": member["id"], "occurred_at": occurred_at,
                "items": [{"sku": "x", "category": "dry", "quantity": 1, "unit_price": amount}]}
        body.update(extra)
        r = self.req("POST", "/v1/purchases", body)
        self.assertEqual(r.status, 201, r)
        return r.json()

    def put_rules(self, change):
        r = self.req("GET", "/v1/rules")
        self.assertEqual(r.status, 200, r)
        doc = r.json()["rules"]
        change(doc)
        r = self.req("PUT", "/v1/rules", doc)
        self.assertEqual(r.status, 200, r)

    def job_record(self, date):
        return self.sql_rows("SELECT runs, birthday_gifts, released, expired_points, downgrades"
                             " FROM daily_jobs WHERE job_date = '%s';" % date)


# ------------------------------------------------------------------ birthdays

class BirthdayTest(JobCase, TwoDaemonsTestCase):
    """Default rules: 500 bonus points on the birthday, 12 months' expiry."""

    def birthday_on(self, date, year=1990):
        d = datetime.date.fromisoformat(date)
        return "%04d-%02d-%02d" % (year, d.month, d.day)

    def test_gift_once_with_its_entry_and_lot(self):
        d = self.day(-3)
        m = self.member(enrolled=self.day(-10) + "T12:00:00+08:00", birthday=self.birthday_on(d))
        other = self.member(enrolled=self.day(-10) + "T12:00:00+08:00", birthday="1990-01-01"
                            if d[5:] != "01-01" else "1990-01-02")
        self.job(d, expect={"birthday_gifts": 1})
        entries = self.ledger(m)
        self.assertEqual(len(entries), 1, entries)
        e = entries[0]
        expires = month_start(datetime.date.fromisoformat(d), 13)
        expires_at = (datetime.datetime(expires.year, expires.month, 1)
                      - datetime.timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
        self.assertEqual((e["kind"], e["points"], e["balance_after"], e["reason"],
                          e["expires_at"]),
                         ("birthday", 500, 500, "birthday gift " + d[:4], expires_at))
        self.assertEqual(self.get_member(m)["points_balance"], 500)
        self.assertEqual(self.ledger(other), [])
        lot = self.sql_rows("SELECT points, remaining, expires_on, available_on, released"
                            " FROM point_lots WHERE member_id = %d;" % self.num(m))
        self.assertEqual(lot, [["500", "500", (expires - datetime.timedelta(days=1)).isoformat(),
                                d, "t"]])
        self.assertEqual(self.sql_rows("SELECT year, job_date FROM birthday_gifts"
                                       " WHERE member_id = %d;" % self.num(m)),
                         [[d[:4], d]])
        self.assertEqual(self.balance(m)["expiring"], [{"points": 500, "expires_at": expires_at}])

        # A second run of the date owes nothing and writes nothing but its record.
        before = self.fingerprint_but_jobs()
        self.job(d, expect={})
        self.job(d, daemon=self.b, expect={})
        self.assertEqual(self.fingerprint_but_jobs(), before)
        self.assertEqual(self.job_record(d), [["3", "1", "0", "0", "0"]])

        # ... except to a member who became eligible since.
        late = self.member(enrolled=d + "T09:00:00+08:00", birthday=self.birthday_on(d, 2001))
        self.job(d, expect={"birthday_gifts": 1})
        self.assertEqual([(e["kind"], e["points"]) for e in self.ledger(late)],
                         [("birthday", 500)])
        self.assertEqual(self.job_record(d), [["4", "2", "0", "0", "0"]])

    def test_debt_is_repaid_first(self):
        d = self.day(-4)
        m = self.member(enrolled=self.day(-30) + "T12:00:00+08:00", birthday=self.birthday_on(d))
        # A member who owes 200 points (a return of points already spent).
        self.psql("UPDATE members SET points_balance = -200 WHERE id = %d;"
                  " INSERT INTO ledger_entries (member_id, kind, points, balance_after, reason)"
                  " VALUES (%d, 'return', -200, -200, 'test debt');" % (self.num(m), self.num(m)))
        self.job(d, expect={"birthday_gifts": 1})
        self.assertEqual(self.get_member(m)["points_balance"], 300)
        self.assertEqual(self.ledger(m)[0]["balance_after"], 300)
        self.assertEqual(self.sql_rows("SELECT points, remaining FROM point_lots"
                                       " WHERE member_id = %d;" % self.num(m)), [["300", "300"]])

    def test_concurrent_runs_grant_once(self):
        d = self.day(-5)
        members = [self.member(enrolled=self.day(-40) + "T12:00:00+08:00",
                               birthday=self.birthday_on(d, 1980 + i)) for i in range(3)]
        results, errors = [None] * 4, []
        daemons = [self.a, self.b, self.a, self.b]
        start = threading.Barrier(len(daemons))

        def run(i):
            try:
                start.wait(10)
                results[i] = daemons[i].request("POST", "/v1/jobs/daily", {"date": d})
            except Exception as exc:  # reported below, in the test's thread
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(daemons))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(errors, [])
        for r in results:
            self.assertEqual(r.status, 200, r)
        self.assertEqual(sum(r.json()["birthday_gifts"] for r in results), 3, results)
        for m in members:
            self.assertEqual([(e["kind"], e["points"]) for e in self.ledger(m)],
                             [("birthday", 500)])
        self.assertEqual(self.job_record(d), [["4", "3", "0", "0", "0"]])

    def test_29_february(self):
        leapling = self.member(enrolled="2025-01-10T12:00:00+08:00", birthday="2000-02-29")
        feb28 = self.member(enrolled="2025-01-10T12:00:00+08:00", birthday="1999-02-28")
        self.job("2026-02-27", expect={})
        self.job("2026-02-28", expect={"birthday_gifts": 2})
        self.job("2026-03-01", expect={})
        for m in (leapling, feb28):
            self.assertEqual([(e["kind"], e["points"], e["reason"]) for e in self.ledger(m)],
                             [("birthday", 500, "birthday gift 2026")])

    def test_inactive_and_later_enrolled_members_get_nothing(self):
        d = self.day(-6)
        suspended = self.member(enrolled=self.day(-60) + "T12:00:00+08:00",
                                birthday=self.birthday_on(d))
        r = self.req("PATCH", "/v1/members/" + q(suspended["id"]), {"status": "suspended"})
        self.assertEqual(r.status, 200, r)
        later = self.member(enrolled=self.day(-5) + "T00:30:00+08:00",
                            birthday=self.birthday_on(d, 1985))
        before = self.fingerprint_but_jobs()
        self.job(d, expect={})
        self.assertEqual(self.fingerprint_but_jobs(), before)
        self.assertEqual(self.ledger(suspended) + self.ledger(later), [])


class ZoneTest(JobCase):
    """Dates are local dates of the program zone, not of UTC."""

    def test_birthday_of_the_zone_date(self):
        utc_today = datetime.datetime.now(datetime.timezone.utc).date()
        zone = "Asia/Shanghai"
        if self.zone_today(zone) == utc_today:
            # Same date right now: a zone where it is not (+14 from 10:00 UTC, else -11).
            hour = datetime.datetime.now(datetime.timezone.utc).hour
            zone = "Pacific/Kiritimati" if hour >= 10 else "Pacific/Pago_Pago"
            self.put_rules(lambda doc: doc.update(timezone=zone))
        zone_today = self.zone_today(zone)
        self.assertNotEqual(zone_today, utc_today)
        yesterday = zone_today - datetime.timedelta(days=1)
        tomorrow = zone_today + datetime.timedelta(days=1)
        m = self.member(birthday="1990-%02d-%02d" % (zone_today.month, zone_today.day))
        # Enrolled just now: on the zone's today, which is after the zone's yesterday
        # even where UTC's date is that yesterday.
        eve = self.member(birthday="1990-%02d-%02d" % (yesterday.month, yesterday.day))
        r = self.req("POST", "/v1/jobs/daily", {"date": tomorrow.isoformat()})
        doc = assert_problem(self, r, 400, "validation_failed")
        self.assertEqual(error_fields(doc), ["date"])
        self.assertIn(zone, doc["errors"][0]["message"])
        self.job(yesterday.isoformat(), expect={})
        self.job(zone_today.isoformat(), expect={"birthday_gifts": 1})
        self.assertEqual([e["kind"] for e in self.ledger(m)], ["birthday"])
        self.assertEqual(self.ledger(eve), [])


# -------------------------------------------------------------------- expiry

class ExpiryTest(JobCase):
    """expiry.months = 1: points earned in September 2026 expire at the end of
    October, those of October at the end of November."""

    def test_expiry_takes_what_is_left_soonest_first(self):
        self.put_rules(lambda doc: doc["expiry"].update(months=1))
        m = self.member(enrolled="2026-08-01T10:00:00+08:00")
        self.purchase(m, 30000, "2026-09-10T10:00:00+08:00")   # 300 points, valid to Oct 31
        self.purchase(m, 20000, "2026-10-05T10:00:00+08:00")   # 200 points, valid to Nov 30
        r = self.req("POST", "/v1/members/%s/adjustments" % q(m["id"]),
                     {"points": -100, "reason": "spend some"})
        self.assertEqual(r.status, 201, r)
        oct31 = "2026-10-31T16:00:00.000000Z"
        nov30 = "2026-11-30T16:00:00.000000Z"
        self.assertEqual(self.balance(m)["expiring"],
                         [{"points": 200, "expires_at": oct31}, {"points": 200, "expires_at": nov30}])

        self.job("2026-10-31", expect={})
        self.assertEqual(self.get_member(m)["points_balance"], 400)
        self.job("2026-11-01", expect={"expired_points": 200})
        e = self.ledger(m)[0]
        self.assertEqual((e["kind"], e["points"], e["balance_after"], e["reason"],
                          e["expires_at"]),
                         ("expire", -200, 200, "points expired on 2026-11-01", None))
        self.assertEqual(self.get_member(m)["points_balance"], 200)
        self.assertEqual(self.balance(m)["expiring"], [{"points": 200, "expires_at": nov30}])
        self.assertEqual(self.sql_rows("SELECT expires_on, points, remaining FROM point_lots"
                                       " WHERE member_id = %d ORDER BY entry_id;" % self.num(m)),
                         [["2026-10-31", "300", "0"], ["2026-11-30", "200", "200"]])
        before = self.fingerprint_but_jobs()
        self.job("2026-11-01", expect={})
        self.job("2026-11-02", expect={})
        self.assertEqual(self.fingerprint_but_jobs(), before)


# ------------------------------------------------------------------- pending

class PendingTest(JobCase):
    """pending_days = 3: points earned today are shown, not spendable, until the
    job of the day they become available releases them."""

    def test_pending_points_and_their_release(self):
        self.put_rules(lambda doc: doc.update(pending_days=3))
        m = self.member()
        now = datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=8)))
        self.purchase(m, 10000, (now - datetime.timedelta(seconds=60)).replace(
            microsecond=0).isoformat())
        bal = self.balance(m)
        self.assertEqual((bal["points_balance"], bal["pending_points"]), (100, 100))
        self.assertEqual(self.sql_rows("SELECT available_on, released FROM point_lots"
                                       " WHERE member_id = %d;" % self.num(m)),
                         [[self.day(3), "f"]])
        r = self.req("POST", "/v1/rewards", {"code": "dj-" + secrets.token_hex(4),
                                             "name": "Gift", "kind": "gift", "points_cost": 50,
                                             "active": True})
        self.assertEqual(r.status, 201, r)
        reward = r.json()
        before = self.fingerprint_but_jobs()
        r = self.req("POST", "/v1/members/%s/redemptions" % q(m["id"]), {"reward_id": reward["id"]})
        assert_problem(self, r, 409, "insufficient_points")
        body = {"store_id": "S001", "terminal_id": "T01", "pos_transaction_id": pos_id(),
                "member_id": m["id"], "occurred_at": now.replace(microsecond=0).isoformat(),
                "redeem_points": 100,
                "items": [{"sku": "x", "category": "dry", "quantity": 1, "unit_price": 1000}]}
        r = self.req("POST", "/v1/purchases", body)
        assert_problem(self, r, 409, "insufficient_points")
        self.assertEqual(self.fingerprint_but_jobs(), before)

        # Three days pass: the lot's first spendable day is now today.
        self.psql("UPDATE point_lots SET available_on = available_on - 3 WHERE member_id = %d;"
                  % self.num(m))
        self.job(self.day(-1), expect={})
        self.job(self.day(0), expect={"released": 100})
        self.assertEqual(self.sql_rows("SELECT released FROM point_lots WHERE member_id = %d;"
                                       % self.num(m)), [["t"]])
        self.assertEqual(self.balance(m)["pending_points"], 0)
        r = self.req("POST", "/v1/members/%s/redemptions" % q(m["id"]), {"reward_id": reward["id"]})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["balance_after"], 50)
        self.job(self.day(0), expect={})


# ----------------------------------------------------------------- downgrades

class DowngradeTest(JobCase):
    """tier_window_days = 10, tier_downgrade_grace_days = 3 (silver 200000, gold
    1000000). A purchase on day p counts for the window spend of days p..p+9;
    a member keeps its tier while some day of [D - 3, D] reaches it."""

    def test_downgrade_when_the_grace_period_ends(self):
        self.put_rules(lambda doc: doc.update(tier_window_days=10, tier_downgrade_grace_days=3))
        enrolled = self.day(-40) + "T10:00:00+08:00"
        # m: gold from day -13 (its spend counts to day -4), 250000 on day -2: due to drop
        # to silver today, when days -3..0 all fall short of gold.
        m = self.member(enrolled=enrolled)
        self.assertEqual(self.purchase(m, 1200000, self.day(-13) + "T10:00:00+08:00")
                         ["tier_after"], "gold")
        self.purchase(m, 250000, self.day(-2) + "T10:00:00+08:00")
        # n: gold from day -12, its spend counts to day -3: keeps gold today.
        n = self.member(enrolled=enrolled)
        self.assertEqual(self.purchase(n, 1200000, self.day(-12) + "T10:00:00+08:00")
                         ["tier_after"], "gold")
        # u: a tier the rules do not know is left alone.
        u = self.member(enrolled=enrolled)
        self.psql("UPDATE members SET tier = 'platinum' WHERE id = %d;" % self.num(u))

        # The balance view's keep_tier.by names the same day.
        self.assertEqual(self.balance(m)["keep_tier"]["by"], self.day(0))
        self.assertEqual(self.balance(n)["keep_tier"]["by"], self.day(1))

        before = self.fingerprint_but_jobs()
        self.job(self.day(-1), expect={})
        self.assertEqual(self.fingerprint_but_jobs(), before)
        self.job(self.day(0), expect={"downgrades": 1})
        self.assertEqual([self.get_member(x)["tier"] for x in (m, n, u)],
                         ["silver", "gold", "platinum"])
        # Qualifying spend: the window spend of the date, 250000 less gold's 5% discount.
        self.assertEqual(self.sql_rows(
            "SELECT from_tier, to_tier, reason, purchase_id IS NULL, effective_on,"
            " CASE WHEN reason = 'downgrade' THEN qualifying_spend END"
            " FROM tier_history WHERE member_id = %d ORDER BY id;" % self.num(m)),
            [["basic", "gold", "purchase", "f", self.day(-13), ""],
             ["gold", "silver", "downgrade", "t", self.day(0), "237500"]])
        self.assertEqual(self.sql_rows("SELECT count(*) FROM tier_history WHERE member_id IN"
                                       " (%d, %d) AND reason = 'downgrade';"
                                       % (self.num(n), self.num(u))), [["0"]])
        before = self.fingerprint_but_jobs()
        self.job(self.day(0), expect={})
        # An old date does not undo what later purchases decided.
        self.job(self.day(-30), expect={})
        self.assertEqual(self.fingerprint_but_jobs(), before)


# ------------------------------------------------------------------ the API

class JobApiTest(JobCase):

    def test_checks(self):
        self.member(birthday="1990-%02d-%02d" % (self.today.month, self.today.day))
        before = db_fingerprint(self.cluster, self.db)
        for body, field in (({}, "date"), ({"date": None}, "date"), ({"date": 20261122}, "date"),
                            ({"date": "2026-02-29"}, "date"), ({"date": "2026-1-05"}, "date"),
                            ({"date": "yesterday"}, "date"), ({"date": self.day(1)}, "date"),
                            ({"date": self.day(0), "when": "now"}, "when")):
            with self.subTest(body=body):
                r = self.req("POST", "/v1/jobs/daily", body)
                doc = assert_problem(self, r, 400, "validation_failed")
                self.assertEqual(error_fields(doc), [field])
        r = self.req("POST", "/v1/jobs/daily", raw=b'{"date": ')
        assert_problem(self, r, 400, "malformed_json")
        for role in ("pos", "app"):
            key = make_key(self.daemon, role)["key"]
            r = self.req("POST", "/v1/jobs/daily", {"date": self.day(0)}, token=key)
            assert_problem(self, r, 403, "forbidden")
        m = self.member()
        r = self.req("POST", "/v1/jobs/daily", {"date": self.day(0)},
                     token=member_token(self.daemon, m["id"])["token"])
        assert_problem(self, r, 403, "forbidden")
        r = self.req("POST", "/v1/jobs/daily", {"date": self.day(0)}, token=None)
        assert_problem(self, r, 401, "unauthorized")
        r = self.req("GET", "/v1/jobs/daily")
        assert_problem(self, r, 405, "method_not_allowed")
        # The keys and the token above are the only writes.
        self.assertEqual([line for line in db_fingerprint(self.cluster, self.db).splitlines()
                          if not line.startswith(("api_keys:", "member_tokens:", "members:"))],
                         [line for line in before.splitlines()
                          if not line.startswith(("api_keys:", "member_tokens:", "members:"))])

    def test_idempotency_key_replays_the_first_answer(self):
        d = self.day(-7)
        self.member(enrolled=self.day(-9) + "T10:00:00+08:00",
                    birthday="1990-%s" % d[5:])
        hdrs = {"Idempotency-Key": "daily-" + secrets.token_hex(6)}
        first = self.req("POST", "/v1/jobs/daily", {"date": d}, headers=hdrs)
        self.assertEqual(first.status, 200, first)
        self.assertEqual(first.json()["birthday_gifts"], 1)
        again = self.req("POST", "/v1/jobs/daily", {"date": d}, headers=hdrs)
        self.assertEqual((again.status, again.body), (first.status, first.body))
        self.assertEqual(self.job_record(d), [["1", "1", "0", "0", "0"]])


class OneWorkerJobTest(JobCase):
    """Two runs sent at once to a daemon with one worker thread and two
    connections, while the job's advisory lock is held from psql: both are
    answered once the lock goes.  A run holds the daemon's run lock while
    it waits for the database; in a fiber, a second run on the same worker
    would block, on that lock, the thread the first needs to go on.  (The
    second run must reach the run lock before the advisory lock is
    released for that to show: both are sent before the test even waits
    for the first to block.)"""

    daemon_threads = 1
    daemon_args = ("--pool-size", "2")

    def test_two_runs_on_one_worker(self):
        d = self.day(-3)
        lock = harness.LockSession(self.cluster, self.db,
                                   "SELECT 'locked' FROM pg_advisory_xact_lock(4419647236102418);")
        results, errors = [None, None], []

        def run(i):
            try:
                results[i] = self.daemon.request("POST", "/v1/jobs/daily", {"date": d},
                                                 timeout=60)
            except Exception as exc:  # reported below, in the test's thread
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        try:
            for t in threads:
                t.start()
            waiting, _ = harness.poll_until(lambda: self.psql(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock';").strip() == "1", 10.0)
            self.assertTrue(waiting, "no run waited for the advisory lock")
        finally:
            lock.release()
        for t in threads:
            t.join(90)
        self.assertEqual(errors, [])
        self.assertEqual([r.status for r in results], [200, 200], results)
        self.assertEqual(self.job_record(d), [["2", "0", "0", "0", "0"]])


# --------------------------------------------------------------- scheduler

class SchedulerTest(JobCase):
    """The daemon runs the job by itself: at start it catches up every date
    after the latest recorded run, up to today."""

    def scheduled_daemon(self, db):
        d = Daemon(db, extra_env={"LOYALTY_DAILY_JOB": "on"})
        self.addCleanup(d.cleanup)
        self.addCleanup(d.stop)
        started, _ = poll_until(lambda: "daily job scheduler started" in d.log(), 10)
        self.assertTrue(started, d.log_tail())
        return d

    def test_catches_up_missed_dates(self):
        # The class daemon runs without its scheduler (the harness's default).
        self.assertEqual(self.sql_rows("SELECT count(*) FROM daily_jobs;"), [["0"]])
        self.psql("INSERT INTO daily_jobs (job_date, runs) VALUES ('%s', 1), ('%s', 1);"
                  % (self.day(-6), self.day(-2)))
        m = self.member(enrolled=self.day(-20) + "T10:00:00+08:00",
                        birthday="1990-%s" % self.day(-1)[5:])
        self.scheduled_daemon(self.db)
        rows, took = poll_until(lambda: self.sql_rows(
            "SELECT job_date, runs FROM daily_jobs WHERE job_date > '%s' ORDER BY 1;"
            % self.day(-2)) == [[self.day(-1), "1"], [self.day(0), "1"]], 30)
        self.assertTrue(rows, self.sql_rows("SELECT job_date, runs FROM daily_jobs ORDER BY 1;"))
        self.assertEqual(self.sql_rows("SELECT job_date FROM daily_jobs ORDER BY 1;"),
                         [[self.day(k)] for k in (-6, -2, -1, 0)])
        self.assertEqual([(e["kind"], e["points"]) for e in self.ledger(m)],
                         [("birthday", 500)])

    def test_a_new_database_runs_today_only(self):
        db = self.cluster.create_database()
        self.addCleanup(self.cluster.drop_database, db)
        self.scheduled_daemon(db)
        rows, _ = poll_until(lambda: self.cluster.psql(
            db, "SELECT job_date FROM daily_jobs;").split(), 30)
        self.assertEqual(rows, [self.day(0)])

    def test_setting(self):
        p = run_cli(["--help"])
        self.assertEqual(p.returncode, 0, p)
        for name in (b"--no-daily-job", b"LOYALTY_DAILY_JOB"):
            self.assertIn(name, p.stdout)
        p = run_cli(["--help"], extra_env={"LOYALTY_DAILY_JOB": "maybe"})
        self.assertEqual(p.returncode, 2, p)
        self.assertIn(b"LOYALTY_DAILY_JOB must be on or off", p.stderr)
        # The flag wins over the environment: no run at start.
        db = self.cluster.create_database()
        self.addCleanup(self.cluster.drop_database, db)
        d = Daemon(db, extra_env={"LOYALTY_DAILY_JOB": "on"}, args=("--no-daily-job",))
        self.addCleanup(d.cleanup)
        # "listening" is logged after the scheduler would have started.
        listening, _ = poll_until(lambda: "\"listening\"" in d.log(), 10)
        self.assertTrue(listening, d.log_tail())
        self.assertNotIn("daily job scheduler started", d.log())
        d.stop()
        self.assertEqual(self.cluster.psql(db, "SELECT count(*) FROM daily_jobs;").strip(), "0")



# ------------------------------------------------------------ stop past grace

class StopPastGraceTest(JobCase):
    """SIGTERM while the work in flight outlives the grace (--stop-grace 2): the daemon
    refuses new connections at once and, once the grace is over, cancels what still runs on
    the database (main.c), so that it exits 0 within seconds where the job's lock wait alone
    allows two minutes.  The daily job is the work: POST /v1/jobs/daily waiting on a member's
    row that a psql session holds, and the scheduler's own run waiting on the job's advisory
    lock."""

    daemon_args = ("--stop-grace", "2")

    def test_request_past_the_grace_is_cancelled(self):
        date = self.day(-1)
        m = self.member(enrolled=self.day(-10) + "T12:00:00+08:00",
                        birthday="1990" + date[4:])
        lock = harness.RowLock(self.cluster, self.db, m)
        result = {}

        def run():
            try:
                result["r"] = self.daemon.request("POST", "/v1/jobs/daily", {"date": date},
                                                  timeout=120)
                result["at"] = time.monotonic()
            except Exception as e:  # reported below
                result["error"] = e

        t = threading.Thread(target=run, daemon=True)
        try:
            t.start()
            waiting, _ = poll_until(lambda: self.psql(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock';").strip() != "0", 30)
            self.assertTrue(waiting, "the job never waited on the member's row: %r" % result)
            termed = time.monotonic()
            self.daemon.signal(signal.SIGTERM)
            refused, _ = poll_until(lambda: not self.can_connect(), 10)
            self.assertTrue(refused, "still accepting connections after SIGTERM")
            t.join(60)
            self.daemon.stop(timeout=60)  # asserts exit 0 and no sanitizer report
            exited = time.monotonic() - termed
        finally:
            lock.release()
        self.assertIn("r", result, result)
        assert_problem(self, result["r"], 503, "unavailable")
        # Answered once the grace was over, not before, and well inside the lock wait.
        self.assertGreaterEqual(result["at"] - termed, 2.0)
        self.assertLess(exited, 30.0)
        self.assertIn("requests still in flight after the grace period", self.daemon.log())
        # The batch rolled back: no gift, and the date is left for a later run.
        self.assertEqual(self.ledger_sql(m), [])
        self.assertEqual(self.sql_rows("SELECT count(*) FROM daily_jobs WHERE job_date = '%s';"
                                       % date), [["0"]])

    def test_a_run_waiting_for_another_is_stopped_too(self):
        """Two job requests: the first waits on a member's row, the second for the first (one
        run at a time in a daemon).  Once the first is cancelled the second must not start its
        batches (it would wait on the same row for two minutes)."""
        d1, d2 = self.day(-3), self.day(-4)
        m = self.member(enrolled=self.day(-10) + "T12:00:00+08:00")
        # A daemon of its own: the class's is stopped by another test.
        d = Daemon(self.db, admin_key=self.daemon.admin_key, args=("--stop-grace", "2"))
        self.addCleanup(d.cleanup)
        lock = harness.RowLock(self.cluster, self.db, m)
        results, threads = {}, []

        def run(date):
            try:
                results[date] = d.request("POST", "/v1/jobs/daily", {"date": date}, timeout=120)
            except Exception as e:  # reported below
                results[date] = e

        def in_flight():
            text = d.request("GET", "/metrics").text
            return [int(line.split()[1]) for line in text.splitlines()
                    if line.startswith("loyalty_http_requests_in_flight ")]

        try:
            threads.append(threading.Thread(target=run, args=(d1,), daemon=True))
            threads[0].start()
            waiting, _ = poll_until(lambda: self.psql(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock';").strip() != "0", 30)
            self.assertTrue(waiting, "the first run never waited on the member's row")
            threads.append(threading.Thread(target=run, args=(d2,), daemon=True))
            threads[1].start()
            # Both runs and this very request.
            both, _ = poll_until(lambda: in_flight() == [3], 30)
            self.assertTrue(both, "in flight: %r" % in_flight())
            termed = time.monotonic()
            d.signal(signal.SIGTERM)
            for t in threads:
                t.join(60)
            d.stop(timeout=60)  # asserts exit 0 and no sanitizer report
            exited = time.monotonic() - termed
        finally:
            lock.release()
        for date in (d1, d2):
            self.assertIn(date, results)
            assert_problem(self, results[date], 503, "unavailable")
        self.assertLess(exited, 30.0)
        self.assertEqual(self.sql_rows("SELECT count(*) FROM daily_jobs;"), [["0"]])

    def test_scheduled_run_past_the_grace_is_cancelled(self):
        db = self.cluster.create_database()
        self.addCleanup(self.cluster.drop_database, db)
        lock = harness.LockSession(self.cluster, db,
                                   "SELECT 'locked' FROM pg_advisory_xact_lock(4419647236102418);")
        try:
            d = Daemon(db, extra_env={"LOYALTY_DAILY_JOB": "on"}, args=("--stop-grace", "1"))
            self.addCleanup(d.cleanup)
            waiting, _ = poll_until(lambda: self.cluster.psql(
                db, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock';").strip() == "1", 30)
            self.assertTrue(waiting, "the scheduler's run never waited: " + d.log_tail())
            d.signal(signal.SIGTERM)
            termed = time.monotonic()
            d.stop(timeout=60)  # asserts exit 0 and no sanitizer report
            exited = time.monotonic() - termed
        finally:
            lock.release()
        self.assertGreaterEqual(exited, 0.9)
        self.assertLess(exited, 30.0)
        self.assertIn("the daily job is still running after the grace period", d.log())
        self.assertEqual(self.cluster.psql(db, "SELECT count(*) FROM daily_jobs;").strip(), "0")

    def can_connect(self):
        try:
            socket.create_connection(("127.0.0.1", self.daemon.port), timeout=2).close()
            return True
        except OSError:
            return False

    def ledger_sql(self, member):
        return [{"kind": k, "points": int(p)} for k, p in self.sql_rows(
            "SELECT kind, points FROM ledger_entries WHERE member_id = %d ORDER BY id;"
            % self.num(member))]


if __name__ == "__main__":
    harness.main()
