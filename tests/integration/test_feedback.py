"""Surveys, complaints with their one-time compensation, and the kpis and complaints reports:
roles, validation (database unchanged), the complaint life cycle, compensation exactly once
under retries and races, and report figures on data sets with known answers (band edges,
NPS rounding, medians), CSV against JSON."""

import csv
import datetime
import io
import secrets
import threading

import harness
from harness import (DaemonTestCase, absent_id_like, assert_problem, enroll,
                     error_fields, make_key, member_token, q)

SURVEY_KEYS = ["id", "member_id", "satisfaction", "recommend", "comment", "purchase_id",
               "created_at"]
COMPLAINT_KEYS = ["id", "member_id", "purchase_id", "category", "text", "status", "resolution",
                  "compensation_points", "ledger_entry_id", "created_at", "updated_at",
                  "resolved_at"]
SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))


def today_local():
    return datetime.datetime.now(SHANGHAI).date()


def store_code(prefix):
    return "%s-%s" % (prefix, secrets.token_hex(4))


class FeedbackCase(DaemonTestCase):
    # Eight workers, so the PATCH races below really run at the same time.
    daemon_threads = 8

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pos = make_key(cls.daemon, "pos")["key"]
        cls.app = make_key(cls.daemon, "app")["key"]

    def tearDown(self):
        self.assert_ledger_invariant()

    # ---------------------------------------------------------------- helpers

    def num(self, public_id):
        return int(public_id.rpartition("_")[2])

    def sql_rows(self, sql):
        return [line.split("|") for line in self.psql(sql).splitlines() if line]

    def member(self, store=None, **fields):
        if store is not None:
            fields["store_id"] = store
        return enroll(self.daemon, **fields)

    def purchase(self, m, amount=10000, store="S001", occurred_at=None):
        when = occurred_at or datetime.datetime.now(SHANGHAI).isoformat(timespec="seconds")
        body = {"store_id": store, "terminal_id": "T01", "pos_transaction_id": "P-" +
                secrets.token_hex(8), "member_id": m["id"], "occurred_at": when,
                "items": [{"sku": "x", "category": "dry", "quantity": 1, "unit_price": amount}]}
        r = self.req("POST", "/v1/purchases", body)
        self.assertEqual(r.status, 201, r)
        return r.json()

    def survey(self, m, body, token=harness.ADMIN):
        return self.req("POST", "/v1/members/%s/surveys" % q(m["id"]), body, token=token)

    def complaint(self, m, category="queue", text="waited too long", token=harness.ADMIN,
                  **extra):
        body = {"member_id": m["id"], "category": category, "text": text}
        body.update(extra)
        r = self.req("POST", "/v1/complaints", body, token=token)
        self.assertEqual(r.status, 201, r)
        return r.json()

    def patch(self, c, body, **kw):
        return self.req("PATCH", "/v1/complaints/" + q(c["id"]), body, **kw)

    def points_balance(self, m):
        r = self.req("GET", "/v1/members/" + q(m["id"]))
        self.assertEqual(r.status, 200, r)
        return r.json()["points_balance"]

    def report(self, name, **params):
        query = "&".join("%s=%s" % (k, q(v)) for k, v in params.items())
        r = self.req("GET", "/v1/reports/%s?%s" % (name, query))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers.get("Cache-Control"), "no-store")
        return r.json()

    def kpis(self, **params):
        return self.report("kpis", **params)

    def assert_rejected(self, method, path, body, status, code, field=None, token=harness.ADMIN):
        before = self.fingerprint()
        r = self.req(method, path, body, token=token)
        doc = assert_problem(self, r, status, code)
        if field is not None:
            self.assertIn(field, error_fields(doc), r)
        self.assertEqual(self.fingerprint(), before, "%s %s %r changed the database"
                         % (method, path, body))
        return doc


# =========================================================================== surveys

class SurveyTest(FeedbackCase):

    def test_staff_record_answers_with_every_field(self):
        m = self.member()
        p = self.purchase(m)
        for token in (harness.ADMIN, self.pos, self.app):
            r = self.survey(m, {"satisfaction": 4, "recommend": 9}, token=token)
            self.assertEqual(r.status, 201, r)
            doc = r.json()
            self.assertEqual(list(doc), SURVEY_KEYS)
            self.assertTrue(doc["id"].startswith("svy_"), doc)
            self.assertEqual((doc["member_id"], doc["satisfaction"], doc["recommend"],
                              doc["comment"], doc["purchase_id"]), (m["id"], 4, 9, None, None))
            harness.parse_time(doc["created_at"])
        comment = "收银很快\n第二行\t" + "好" * 990
        r = self.survey(m, {"satisfaction": 1, "recommend": 0, "comment": comment,
                            "purchase_id": p["id"]})
        self.assertEqual(r.status, 201, r)
        self.assertEqual((r.json()["comment"], r.json()["purchase_id"]), (comment, p["id"]))
        self.assertEqual(self.sql_rows("SELECT count(*) FROM surveys WHERE member_id = %d;"
                                       % self.num(m["id"])), [["4"]])

    def test_member_token_answers_for_itself_only(self):
        m, other = self.member(), self.member()
        tok = member_token(self.daemon, m["id"])["token"]
        r = self.req("POST", "/v1/me/surveys", {"satisfaction": 5, "recommend": 10}, token=tok)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["member_id"], m["id"])
        for target in (m, other):
            self.assert_rejected("POST", "/v1/members/%s/surveys" % q(target["id"]),
                                 {"satisfaction": 5, "recommend": 10}, 403, "forbidden",
                                 token=tok)
        for token in (harness.ADMIN, self.pos, self.app):
            self.assert_rejected("POST", "/v1/me/surveys", {"satisfaction": 5, "recommend": 10},
                                 403, "forbidden", token=token)
        self.assert_rejected("POST", "/v1/me/surveys", {"satisfaction": 5, "recommend": 10},
                             401, "unauthorized", token=None)
        # Its own purchase is fine; another member's is not its to rate.
        mine, theirs = self.purchase(m), self.purchase(other)
        r = self.req("POST", "/v1/me/surveys", {"satisfaction": 3, "recommend": 7,
                                                "purchase_id": mine["id"]}, token=tok)
        self.assertEqual(r.status, 201, r)
        self.assert_rejected("POST", "/v1/me/surveys", {"satisfaction": 3, "recommend": 7,
                                                        "purchase_id": theirs["id"]},
                             400, "validation_failed", "purchase_id", token=tok)

    def test_invalid_answers_change_nothing(self):
        m, other = self.member(), self.member()
        theirs = self.purchase(other)
        path = "/v1/members/%s/surveys" % q(m["id"])
        ok = {"satisfaction": 3, "recommend": 5}
        cases = [
            ({"recommend": 5}, "satisfaction"),
            ({"satisfaction": 3}, "recommend"),
            (dict(ok, satisfaction=0), "satisfaction"),
            (dict(ok, satisfaction=6), "satisfaction"),
            (dict(ok, satisfaction="3"), "satisfaction"),
            (dict(ok, recommend=-1), "recommend"),
            (dict(ok, recommend=11), "recommend"),
            (dict(ok, recommend=5.0), "recommend"),
            (dict(ok, comment=""), "comment"),
            (dict(ok, comment="x" * 1001), "comment"),
            (dict(ok, comment="bell\u0007"), "comment"),
            (dict(ok, purchase_id="12"), "purchase_id"),
            (dict(ok, purchase_id=7), "purchase_id"),
            (dict(ok, mood="grumpy"), "mood"),
            # Another member's purchase, and one that does not exist: the body's field.
            (dict(ok, purchase_id=theirs["id"]), "purchase_id"),
            (dict(ok, purchase_id=absent_id_like(theirs["id"])), "purchase_id"),
        ]
        for body, field in cases:
            with self.subTest(body=body):
                self.assert_rejected("POST", path, body, 400, "validation_failed", field)
        self.assert_rejected("POST", path, [], 400, "validation_failed")
        # A bad body is 400 even for an unknown member (body before state).
        self.assert_rejected("POST", "/v1/members/mem_999999999/surveys", {"satisfaction": 9},
                             400, "validation_failed", "satisfaction")
        for mid in (absent_id_like(m["id"]), "mem_x", "42"):
            self.assert_rejected("POST", "/v1/members/%s/surveys" % q(mid), ok, 404, "not_found")

    def test_closed_member_is_inactive_suspended_may_answer(self):
        m, s = self.member(), self.member()
        r = self.req("PATCH", "/v1/members/" + q(s["id"]), {"status": "suspended"})
        self.assertEqual(r.status, 200, r)
        r = self.survey(s, {"satisfaction": 2, "recommend": 3})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(self.req("DELETE", "/v1/members/" + q(m["id"])).status, 204)
        self.assert_rejected("POST", "/v1/members/%s/surveys" % q(m["id"]),
                             {"satisfaction": 2, "recommend": 3}, 409, "member_inactive")

    def test_idempotency_key_replays_a_survey(self):
        m = self.member()
        hdr = {"Idempotency-Key": "svy-" + secrets.token_hex(6)}
        body = {"satisfaction": 5, "recommend": 8}
        a = self.req("POST", "/v1/members/%s/surveys" % q(m["id"]), body, headers=hdr)
        b = self.req("POST", "/v1/members/%s/surveys" % q(m["id"]), body, headers=hdr)
        self.assertEqual((a.status, b.status), (201, 201))
        self.assertEqual(a.body, b.body)
        self.assertEqual(self.sql_rows("SELECT count(*) FROM surveys WHERE member_id = %d;"
                                       % self.num(m["id"])), [["1"]])


# ======================================================================== complaints

class ComplaintTest(FeedbackCase):

    def compensations(self, m, c):
        return [e for e in self.ledger(m) if e["reason"] == "complaint " + c["id"]]

    def test_life_cycle_and_compensation(self):
        m = self.member()
        p = self.purchase(m, 5000)                       # earns 50 points
        c = self.complaint(m, "queue", "收银台排队过久\n半小时", purchase_id=p["id"])
        self.assertEqual(list(c), COMPLAINT_KEYS)
        self.assertTrue(c["id"].startswith("cmp_"), c)
        self.assertEqual({k: c[k] for k in COMPLAINT_KEYS if k not in ("id", "created_at",
                                                                        "updated_at")},
                         {"member_id": m["id"], "purchase_id": p["id"], "category": "queue",
                          "text": "收银台排队过久\n半小时", "status": "open", "resolution": None,
                          "compensation_points": 0, "ledger_entry_id": None,
                          "resolved_at": None})
        self.assertEqual(c["created_at"], c["updated_at"])
        r = self.req("GET", "/v1/complaints/" + q(c["id"]))
        self.assertEqual((r.status, r.json()), (200, c))

        r = self.patch(c, {"status": "in_progress", "resolution": "looking into it"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json()["status"], r.json()["resolution"], r.json()["resolved_at"]),
                         ("in_progress", "looking into it", None))
        self.assertEqual(self.compensations(m, c), [])

        body = {"status": "resolved", "resolution": "致歉并补偿积分", "compensation_points": 250}
        r = self.patch(c, body)
        self.assertEqual(r.status, 200, r)
        done = r.json()
        self.assertEqual((done["status"], done["resolution"], done["compensation_points"]),
                         ("resolved", "致歉并补偿积分", 250))
        self.assertIsNotNone(done["resolved_at"])
        self.assertEqual(done["resolved_at"], done["updated_at"])
        comp = self.compensations(m, c)
        self.assertEqual([(e["id"], e["kind"], e["points"], e["balance_after"]) for e in comp],
                         [(done["ledger_entry_id"], "adjust", 250, 300)])
        self.assertEqual(self.points_balance(m), 300)

        # Retries: the same body, the status alone, and an equal subset: 200, nothing written.
        before = self.fingerprint()
        for again in (body, {"status": "resolved"}, {"status": "resolved",
                                                     "compensation_points": 250}):
            r = self.patch(c, again)
            self.assertEqual((r.status, r.json()), (200, done), again)
        self.assertEqual(self.fingerprint(), before)
        # Anything else on a final complaint is a conflict.
        for other in ({"status": "rejected"}, {"status": "open"},
                      {"status": "resolved", "compensation_points": 300},
                      {"status": "resolved", "compensation_points": 0},
                      {"status": "resolved", "resolution": "another text"}):
            self.assert_rejected("PATCH", "/v1/complaints/" + q(c["id"]), other, 409,
                                 "conflict")
        self.assertEqual(len(self.compensations(m, c)), 1)
        r = self.req("GET", "/v1/complaints/" + q(c["id"]))
        self.assertEqual(r.json(), done)

    def test_rejected_is_final_and_resolving_without_points_gives_none(self):
        m = self.member()
        c = self.complaint(m)
        r = self.patch(c, {"status": "rejected", "resolution": "not our store"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json()["status"], r.json()["resolved_at"]), ("rejected", None))
        self.assert_rejected("PATCH", "/v1/complaints/" + q(c["id"]),
                             {"status": "resolved", "compensation_points": 10}, 409, "conflict")
        d = self.complaint(m)
        r = self.patch(d, {"status": "resolved"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json()["compensation_points"], r.json()["ledger_entry_id"]), (0, None))
        self.assertIsNotNone(r.json()["resolved_at"])
        r = self.patch(d, {"status": "resolved", "compensation_points": 0})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.ledger(m), [])

    def test_patch_ignores_idempotency_key(self):
        m = self.member()
        c = self.complaint(m)
        hdr = {"Idempotency-Key": "cmp-" + secrets.token_hex(6)}
        r = self.patch(c, {"status": "in_progress"}, headers=hdr)
        self.assertEqual((r.status, r.json()["status"]), (200, "in_progress"))
        # A different body under the same key is a new PATCH, not a 422 replay.
        r = self.patch(c, {"status": "resolved", "compensation_points": 40}, headers=hdr)
        self.assertEqual((r.status, r.json()["status"]), (200, "resolved"))
        self.assertEqual(self.points_balance(m), 40)

    def race(self, c, bodies):
        """PATCHes `c` with every body at once; returns the responses."""
        barrier = threading.Barrier(len(bodies))
        out = [None] * len(bodies)

        def run(i):
            barrier.wait()
            out[i] = self.patch(c, bodies[i])
        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(bodies))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return out

    def test_racing_patches_compensate_once(self):
        m = self.member()
        body = {"status": "resolved", "resolution": "sorry", "compensation_points": 100}
        for _ in range(3):
            c = self.complaint(m)
            rs = self.race(c, [body] * 8)
            self.assertEqual([r.status for r in rs], [200] * 8, rs)
            self.assertEqual(len({r.body for r in rs}), 1, "all answers show the one result")
            self.assertEqual([e["points"] for e in self.compensations(m, c)], [100])
        self.assertEqual(self.points_balance(m), 300)
        # Different amounts at once: one wins, the same-amount ones are retries of it,
        # the others conflict; one entry, and the complaint records its points.
        c = self.complaint(m)
        bodies = [{"status": "resolved", "compensation_points": 10 * (1 + i % 2)}
                  for i in range(8)]
        rs = self.race(c, bodies)
        final = self.req("GET", "/v1/complaints/" + q(c["id"])).json()
        for b, r in zip(bodies, rs):
            want = 200 if b["compensation_points"] == final["compensation_points"] else 409
            self.assertEqual(r.status, want, (b, r))
        comp = self.compensations(m, c)
        self.assertEqual([(e["id"], e["points"]) for e in comp],
                         [(final["ledger_entry_id"], final["compensation_points"])])
        self.assertEqual(self.points_balance(m), 300 + final["compensation_points"])

    def test_closed_member_cannot_be_compensated(self):
        m = self.member()
        c = self.complaint(m)
        d = self.complaint(m)
        self.assertEqual(self.req("DELETE", "/v1/members/" + q(m["id"])).status, 204)
        self.assert_rejected("PATCH", "/v1/complaints/" + q(c["id"]),
                             {"status": "resolved", "compensation_points": 5}, 409,
                             "member_inactive")
        r = self.patch(d, {"status": "resolved", "resolution": "closed account"})
        self.assertEqual(r.status, 200, r)
        self.assert_rejected("POST", "/v1/complaints", {"member_id": m["id"], "category": "x",
                                                        "text": "again"}, 409, "member_inactive")

    def test_roles(self):
        m = self.member()
        for token in (self.pos, self.app):
            c = self.complaint(m, token=token)
        tok = member_token(self.daemon, m["id"])["token"]
        body = {"member_id": m["id"], "category": "queue", "text": "t"}
        self.assert_rejected("POST", "/v1/complaints", body, 403, "forbidden", token=tok)
        for token in (self.pos, self.app, tok):
            self.assert_rejected("PATCH", "/v1/complaints/" + q(c["id"]), {"status": "open"},
                                 403, "forbidden", token=token)
            for path in ("/v1/complaints", "/v1/complaints/" + q(c["id"])):
                self.assertEqual(self.req("GET", path, token=token).status, 403)

    def test_invalid_requests_change_nothing(self):
        m, other = self.member(), self.member()
        theirs = self.purchase(other)
        c = self.complaint(m)
        ok = {"member_id": m["id"], "category": "queue", "text": "t"}
        cases = [
            ({"category": "queue", "text": "t"}, "member_id"),
            ({"member_id": m["id"], "text": "t"}, "category"),
            ({"member_id": m["id"], "category": "queue"}, "text"),
            (dict(ok, category="Queue"), "category"),
            (dict(ok, category="a" * 33), "category"),
            (dict(ok, category="排队"), "category"),
            (dict(ok, text=""), "text"),
            (dict(ok, text="x" * 2001), "text"),
            (dict(ok, text="nul\u0000"), None),
            (dict(ok, member_id=42), "member_id"),
            (dict(ok, purchase_id="pur_0"), "purchase_id"),
            (dict(ok, purchase_id=theirs["id"]), "purchase_id"),
            (dict(ok, status="open"), "status"),
        ]
        for body, field in cases:
            with self.subTest(body=body):
                self.assert_rejected("POST", "/v1/complaints", body, 400, "validation_failed",
                                     field)
        for mid in (absent_id_like(m["id"]), "member-1"):
            self.assert_rejected("POST", "/v1/complaints", dict(ok, member_id=mid), 404,
                                 "not_found")
        path = "/v1/complaints/" + q(c["id"])
        patches = [
            ({}, "status"),
            ({"status": "closed"}, "status"),
            ({"status": "in_progress", "compensation_points": 5}, "compensation_points"),
            ({"status": "resolved", "compensation_points": -1}, "compensation_points"),
            ({"status": "resolved", "compensation_points": 1000000001}, "compensation_points"),
            ({"status": "resolved", "compensation_points": "5"}, "compensation_points"),
            ({"status": "resolved", "resolution": ""}, "resolution"),
            ({"status": "resolved", "resolution": None}, "resolution"),
            ({"status": "resolved", "points": 5}, "points"),
        ]
        for body, field in patches:
            with self.subTest(body=body):
                self.assert_rejected("PATCH", path, body, 400, "validation_failed", field)
        for cid in (absent_id_like(c["id"]), "cmp_0", "complaint"):
            self.assert_rejected("PATCH", "/v1/complaints/" + q(cid), {"status": "open"}, 404,
                                 "not_found")
            self.assertEqual(self.req("GET", "/v1/complaints/" + q(cid)).status, 404)

    def test_list_filters_and_pages(self):
        a, b = self.member(), self.member()
        made = [self.complaint(a), self.complaint(b), self.complaint(a), self.complaint(a)]
        self.assertEqual(self.patch(made[2], {"status": "in_progress"}).status, 200)
        self.assertEqual(self.patch(made[3], {"status": "rejected"}).status, 200)

        def ids(query):
            out, cursor = [], None
            while True:
                r = self.req("GET", "/v1/complaints?limit=2" + query +
                             ("&cursor=" + q(cursor) if cursor else ""))
                self.assertEqual(r.status, 200, r)
                page = r.json()
                self.assertLessEqual(len(page["items"]), 2)
                out += [x["id"] for x in page["items"]]
                cursor = page["next_cursor"]
                if cursor is None:
                    return out
        mine = [x["id"] for x in reversed(made) if x["member_id"] == a["id"]]
        self.assertEqual(ids("&member_id=" + q(a["id"])), mine)
        self.assertEqual(ids("&member_id=%s&status=open" % q(a["id"])), [made[0]["id"]])
        opened = ids("&status=open")
        self.assertIn(made[1]["id"], opened)
        self.assertNotIn(made[2]["id"], opened)
        self.assertIn(made[2]["id"], ids("&status=in_progress"))
        everything = ids("")
        self.assertEqual(everything, sorted(everything, key=self.num, reverse=True))
        self.assertTrue(set(x["id"] for x in made) <= set(everything))
        self.assertEqual(ids("&member_id=" + q(absent_id_like(a["id"]))), [])
        r = self.req("GET", "/v1/complaints?member_id=%s&status=rejected" % q(a["id"]))
        self.assertEqual(r.json()["items"][0], self.req(
            "GET", "/v1/complaints/" + q(made[3]["id"])).json())
        before = self.fingerprint()
        for query, field in (("status=closed", "status"), ("member_id=42", "member_id"),
                             ("limit=0", "limit"), ("cursor=mem_1", "cursor"),
                             ("sort=asc", "query"), ("status=open&status=open", "query")):
            doc = assert_problem(self, self.req("GET", "/v1/complaints?" + query), 400,
                                 "validation_failed")
            self.assertIn(field, error_fields(doc), query)
        self.assertEqual(self.fingerprint(), before)


# =========================================================================== reports

class ReportTest(FeedbackCase):

    def sql_buyers(self, store, buyers, repeaters, occurred="2026-03-15 12:00:00+08"):
        """`buyers` members enrolled at `store`, the first `repeaters` of them with two
        purchases on `occurred`, the others with one, and each with one more purchase a year
        before (outside the period).  Written with SQL: a thousand members by HTTP would be
        slow, and these rows move no points."""
        tag = secrets.token_hex(4)
        self.psql(
            "INSERT INTO members (card_number, name, referral_code, enrolled_store, enrolled_at)"
            " SELECT '7' || lpad((%d + g)::text, 16, '0'), 'Buyer ' || g, 'T%s' || g, %s,"
            " '2025-01-01T00:00:00+08' FROM generate_series(1, %d) g;"
            % (secrets.randbelow(10 ** 9) * 10000, tag, harness.quote_literal(store), buyers))
        purchase = (
            "INSERT INTO purchases (member_id, store_id, terminal_id, pos_transaction_id,"
            " occurred_at, subtotal, discount_total, redeemed_value, total_due, points_earned,"
            " points_redeemed, net_spend, tier_before, tier_after, rules_version, request_hash,"
            " result) SELECT id, 'S001', 'T1', 'sql-' || id || '-' || n, %s::timestamptz,"
            " 1000, 0, 0, 1000, 0, 0, 1000, 'basic', 'basic', 1, sha256(id::text::bytea), '{}'"
            " FROM (SELECT id FROM members WHERE enrolled_store = %s ORDER BY id LIMIT %d) m,"
            " generate_series(1, %d) n;")
        st = harness.quote_literal(store)
        self.psql(purchase % (harness.quote_literal(occurred), st, buyers, 1))
        self.psql(purchase.replace("'-' || n", "'-b' || n")
                  % (harness.quote_literal(occurred), st, repeaters, 1))
        self.psql(purchase.replace("'-' || n", "'-old' || n")
                  % ("'2025-03-15 12:00:00+08'", st, buyers, 1))

    def repeat(self, store):
        return self.kpis(store_id=store, **{"from": "2026-01-01", "to": "2026-06-30"})[
            "repeat_purchase"]

    def test_repeat_purchase_band_edges(self):
        cases = [(1000, 299, 0.299, "warning"), (1000, 300, 0.3, "normal"),
                 (1000, 700, 0.7, "normal"), (1000, 701, 0.701, "strong"),
                 (3, 0, 0.0, "warning"), (3, 3, 1.0, "strong"), (7, 2, 0.2857, "warning"),
                 (7, 5, 0.7143, "strong")]
        for buyers, repeaters, rate, band in cases:
            with self.subTest(buyers=buyers, repeaters=repeaters):
                store = store_code("RR")
                self.sql_buyers(store, buyers, repeaters)
                self.assertEqual(self.repeat(store), {"buyers": buyers,
                                                      "repeat_buyers": repeaters,
                                                      "rate": rate, "band": band})
        self.assertEqual(self.repeat(store_code("NONE")),
                         {"buyers": 0, "repeat_buyers": 0, "rate": None, "band": None})

    def test_repeat_purchase_through_the_api(self):
        """10 buyers, 3 buy twice: exactly 30 %, normal; a fully returned purchase is not one."""
        store = store_code("API")
        members = [self.member(store) for _ in range(10)]
        for i, m in enumerate(members):
            self.purchase(m, 1000)
            if i < 3:
                self.purchase(m, 1000)
        today = today_local().isoformat()
        rp = self.kpis(store_id=store, to=today)["repeat_purchase"]
        self.assertEqual(rp, {"buyers": 10, "repeat_buyers": 3, "rate": 0.3, "band": "normal"})
        p = self.purchase(members[3], 1000)
        rp = self.kpis(store_id=store, to=today)["repeat_purchase"]
        self.assertEqual((rp["repeat_buyers"], rp["rate"]), (4, 0.4))
        r = self.req("POST", "/v1/purchases/%s/returns" % q(p["id"]),
                     {"pos_return_id": "R-" + secrets.token_hex(4),
                      "items": [{"sku": "x", "quantity": 1}]})
        self.assertEqual(r.status, 201, r)
        rp = self.kpis(store_id=store, to=today)["repeat_purchase"]
        self.assertEqual(rp, {"buyers": 10, "repeat_buyers": 3, "rate": 0.3, "band": "normal"})

    def answers(self, store, pairs):
        for sat, rec in pairs:
            m = self.member(store)
            r = self.survey(m, {"satisfaction": sat, "recommend": rec})
            self.assertEqual(r.status, 201, r)

    def test_satisfaction_and_nps(self):
        store = store_code("NPS")
        # promoters 10 9 9 10 9, passive 8, detractors 6 0; satisfaction sums to 28 of 8.
        self.answers(store, [(5, 10), (5, 9), (4, 9), (4, 10), (4, 9), (3, 8), (2, 6), (1, 0)])
        k = self.kpis(store_id=store)
        self.assertEqual(k["satisfaction"], {"responses": 8, "mean": 3.5, "distribution":
                                             {"1": 1, "2": 1, "3": 1, "4": 3, "5": 2}})
        self.assertEqual(k["nps"], {"responses": 8, "promoters": 5, "passives": 1,
                                    "detractors": 2, "score": 37.5})
        # 13/3 = 4.333: mean 4.33; 1 promoter of 3: 33.333 -> 33.3.
        store = store_code("NPS")
        self.answers(store, [(5, 10), (4, 7), (4, 8)])
        k = self.kpis(store_id=store)
        self.assertEqual((k["satisfaction"]["mean"], k["nps"]["score"]), (4.33, 33.3))
        # 1 of 16: 6.25 rounds half away from zero, both ways.
        for rec, score in ((9, 6.3), (6, -6.3)):
            store = store_code("NPS")
            self.answers(store, [(3, rec)] + [(3, 7)] * 15)
            k = self.kpis(store_id=store)
            self.assertEqual((k["nps"]["responses"], k["nps"]["score"],
                              k["satisfaction"]["mean"]), (16, score, 3.0))
        empty = self.kpis(store_id=store_code("NPS"))
        self.assertEqual(empty["satisfaction"], {"responses": 0, "mean": None, "distribution":
                                                 {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0}})
        self.assertEqual(empty["nps"], {"responses": 0, "promoters": 0, "passives": 0,
                                        "detractors": 0, "score": None})
        # Answers outside the period do not count.
        yesterday = (today_local() - datetime.timedelta(days=1)).isoformat()
        self.assertEqual(self.kpis(store_id=store, to=yesterday)["nps"]["responses"], 0)

    def test_referrals_and_points(self):
        store = store_code("PTS")
        referrer = self.member(store)
        referees = [self.member(store, referral_code=referrer["referral_code"])
                    for _ in range(3)]
        self.purchase(referees[0], 6000)        # 60 earned; referral: 300 + 200
        self.purchase(referees[1], 1000)        # 10 earned, below min_first_purchase
        m = self.member(store)
        adj = self.req("POST", "/v1/members/%s/adjustments" % q(m["id"]),
                       {"points": 1000, "reason": "welcome"})
        self.assertEqual(adj.status, 201, adj)
        self.assertEqual(self.req("POST", "/v1/members/%s/adjustments" % q(m["id"]),
                                  {"points": -50, "reason": "fix"}).status, 201)
        w = self.req("POST", "/v1/rewards", {"code": "r-" + secrets.token_hex(4), "name": "Gift",
                                             "kind": "gift", "points_cost": 300, "active": True})
        self.assertEqual(w.status, 201, w)
        red = [self.req("POST", "/v1/members/%s/redemptions" % q(m["id"]),
                        {"reward_id": w.json()["id"]}) for _ in range(2)]
        self.assertEqual([r.status for r in red], [201, 201])
        r = self.req("POST", "/v1/redemptions/%s/cancel" % q(red[1].json()["id"]))
        self.assertEqual(r.status, 200, r)
        c = self.complaint(m)
        self.assertEqual(self.patch(c, {"status": "resolved", "compensation_points": 70}).status,
                         200)
        # Expire 100 of m's points: its compensation lot ends yesterday, then today's job.
        self.psql("UPDATE point_lots SET expires_on = current_date - 30 WHERE entry_id = %d;"
                  % self.num(self.patch(c, {"status": "resolved"}).json()["ledger_entry_id"]))
        today = today_local()
        r = self.req("POST", "/v1/jobs/daily", {"date": today.isoformat()})
        self.assertEqual((r.status, r.json()["expired_points"]), (200, 70), r)
        # Move the welcome adjustment back one month, to see the series split.
        last_month = (today.replace(day=1) - datetime.timedelta(days=1)).replace(day=15)
        self.psql("UPDATE ledger_entries SET created_at = %s::timestamptz WHERE id = %d;"
                  % (harness.quote_literal(last_month.isoformat() + "T12:00:00+08:00"),
                     self.num(adj.json()["entry"]["id"])))
        closed = self.member(store)
        self.assertEqual(self.req("POST", "/v1/members/%s/adjustments" % q(closed["id"]),
                                  {"points": 5, "reason": "gone"}).status, 201)
        self.assertEqual(self.req("DELETE", "/v1/members/" + q(closed["id"])).status, 204)

        k = self.kpis(store_id=store, **{"from": last_month.replace(day=1).isoformat()})
        self.assertEqual(k["filters"], {"store_id": store, "tier": None,
                                        "from": last_month.replace(day=1).isoformat(),
                                        "to": today.isoformat()})
        self.assertEqual(k["referrals"], {"referred": 3, "converted": 1,
                                          "conversion_rate": 0.3333})
        # issued: 1000 welcome + 60 + 10 earned + 300 + 200 referral + 70 compensation + 5.
        # redeemed: 600 - 300 cancelled.  expired: 70.  -50 is a correction: none of them.
        balances = {"referrer": 300, "r0": 260, "r1": 10, "m": 1000 - 50 - 300 + 70 - 70}
        self.assertEqual(k["points"], {"issued": 1645, "redeemed": 300, "expired": 70,
                                       "outstanding": sum(balances.values()),
                                       "liability": sum(balances.values())})
        this_month = today.strftime("%Y-%m")
        self.assertEqual(k["items"], [
            {"month": last_month.strftime("%Y-%m"), "issued": 1000, "redeemed": 0, "expired": 0},
            {"month": this_month, "issued": 645, "redeemed": 300, "expired": 70}])
        # A period of this month only leaves the welcome points out.
        k2 = self.kpis(store_id=store, **{"from": today.replace(day=1).isoformat()})
        self.assertEqual(k2["points"]["issued"], 645)
        self.assertEqual(k2["items"], k["items"][1:])
        # tier filter: nobody of the store is gold.
        k3 = self.kpis(store_id=store, tier="gold")
        self.assertEqual((k3["points"], k3["referrals"]["referred"]),
                         ({"issued": 0, "redeemed": 0, "expired": 0, "outstanding": 0,
                           "liability": 0}, 0))
        # liability at 300 points per 100 minor units, floored.
        rules = self.req("GET", "/v1/rules").json()["rules"]
        changed = dict(rules, redemption=dict(rules["redemption"], points_per_unit=300))
        self.assertEqual(self.req("PUT", "/v1/rules", changed).status, 200)
        self.addCleanup(self.req, "PUT", "/v1/rules", rules)
        out = sum(balances.values())
        self.assertEqual(self.kpis(store_id=store)["points"]["liability"], out * 100 // 300)
        self.csv_matches("kpis", {"store_id": store, "from": last_month.isoformat()})

    def csv_matches(self, name, params):
        query = "&".join("%s=%s" % (k, q(v)) for k, v in params.items())
        doc = self.req("GET", "/v1/reports/%s?%s" % (name, query)).json()
        r = self.req("GET", "/v1/reports/%s?%s" % (name, query), headers={"Accept": "text/csv"})
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.headers.get("Content-Type", "").startswith("text/csv"), r)
        rows = list(csv.reader(io.StringIO(r.body.decode("utf-8"), newline="")))
        self.assertGreater(len(doc["items"]), 0)
        keys = list(doc["items"][0])
        self.assertEqual(rows[0], keys)

        def text(v):
            return "" if v is None else str(v)
        self.assertEqual(rows[1:], [[text(item[k]) for k in keys] for item in doc["items"]])

    def test_complaints_report(self):
        store = store_code("CMP")
        a, b = self.member(store), self.member(store)
        outsider = self.member(store_code("OTHER"))

        def resolved(m, category, minutes, points=0):
            c = self.complaint(m, category)
            body = {"status": "resolved"}
            if points:
                body["compensation_points"] = points
            self.assertEqual(self.patch(c, body).status, 200)
            self.psql("UPDATE complaints SET created_at = resolved_at - interval '%d minutes'"
                      " WHERE id = %d;" % (minutes, self.num(c["id"])))
            return c
        resolved(a, "delivery", 120)
        resolved(b, "delivery", 240, points=50)
        resolved(a, "delivery", 600)
        self.complaint(b, "delivery")
        resolved(a, "staff", 60, points=100)
        resolved(b, "staff", 100)
        st = self.complaint(a, "staff")
        self.assertEqual(self.patch(st, {"status": "in_progress"}).status, 200)
        rj = self.complaint(b, "staff")
        self.assertEqual(self.patch(rj, {"status": "rejected"}).status, 200)
        old = self.complaint(a, "queue")
        self.psql("UPDATE complaints SET created_at = now() - interval '30 days' WHERE id = %d;"
                  % self.num(old["id"]))
        self.complaint(outsider, "delivery")

        week = {"store_id": store,
                "from": (today_local() - datetime.timedelta(days=7)).isoformat()}
        doc = self.report("complaints", **week)
        self.assertEqual(doc, {
            "filters": {"store_id": store, "tier": None, "from": week["from"],
                        "to": today_local().isoformat()},
            # resolution hours: delivery 2, 4, 10; staff 1, 1.667: medians 4, 1.33 and 2.
            "open": 2, "resolved": 5, "median_resolution_hours": 2.0, "compensation_points": 150,
            "items": [
                {"category": "delivery", "open": 1, "resolved": 3,
                 "median_resolution_hours": 4.0, "compensation_points": 50},
                {"category": "staff", "open": 1, "resolved": 2,
                 "median_resolution_hours": 1.33, "compensation_points": 100}]})
        self.csv_matches("complaints", week)
        # The default period (a year) takes the old complaint in.
        doc = self.report("complaints", store_id=store)
        self.assertEqual((doc["open"], [i["category"] for i in doc["items"]]),
                         (3, ["delivery", "queue", "staff"]))
        self.assertEqual(doc["items"][1], {"category": "queue", "open": 1, "resolved": 0,
                                           "median_resolution_hours": None,
                                           "compensation_points": 0})
        none = self.report("complaints", store_id=store_code("EMPTY"))
        self.assertEqual({k: none[k] for k in ("open", "resolved", "median_resolution_hours",
                                               "compensation_points", "items")},
                         {"open": 0, "resolved": 0, "median_resolution_hours": None,
                          "compensation_points": 0, "items": []})

    def test_default_period_and_bad_filters(self):
        today = today_local()
        for name in ("kpis", "complaints"):
            doc = self.report(name)
            self.assertEqual(doc["filters"], {"store_id": None, "tier": None,
                                              "from": (today - datetime.timedelta(days=364))
                                              .isoformat(), "to": today.isoformat()})
            doc = self.report(name, to="2026-03-01")
            self.assertEqual((doc["filters"]["from"], doc["filters"]["to"]),
                             ("2025-03-02", "2026-03-01"))
        k = self.kpis(**{"from": "2026-01-31", "to": "2026-03-01"})
        self.assertEqual([i["month"] for i in k["items"]], ["2026-01", "2026-02", "2026-03"])
        before = self.fingerprint()
        for name in ("kpis", "complaints"):
            for query, field in (("from=2026-02-30", "from"), ("to=tomorrow", "to"),
                                 ("from=2026-03-02&to=2026-03-01", "from"),
                                 ("store_id=" + q("a b"), "store_id"), ("tier=" + "x" * 33, "tier"),
                                 ("month=2026-01", "query"), ("tier=a&tier=b", "query")):
                with self.subTest(name=name, query=query):
                    doc = assert_problem(self, self.req("GET", "/v1/reports/%s?%s"
                                                        % (name, query)), 400,
                                         "validation_failed")
                    self.assertIn(field, error_fields(doc))
            for token in (self.pos, self.app):
                self.assertEqual(self.req("GET", "/v1/reports/" + name, token=token).status, 403)
            self.assertEqual(self.req("GET", "/v1/reports/" + name, token=None).status, 401)
        self.assertEqual(self.fingerprint(), before)


class WholeProgramReportTest(FeedbackCase):
    """The reports without a filter, over a database of their own (every member is this
    test's): store/reports_feedback.c reads them by another statement than a filtered
    report, so each total is checked exactly and against the stores' reports added up."""

    def test_unfiltered_reports_count_every_member(self):
        wa, wb = store_code("WA"), store_code("WB")
        a = [self.member(wa) for _ in range(3)]
        b = [self.member(wb) for _ in range(2)]
        b.append(self.member(wb, referral_code=a[0]["referral_code"]))
        # Buyers: a0, a1 twice, a2 once; b0 twice, b2 once (6000: its referral is granted).
        for m in (a[0], a[1], b[0]):
            self.purchase(m, 2000)
            self.purchase(m, 1000)
        self.purchase(a[2], 3000)
        self.purchase(b[2], 6000)
        for m, sat, rec in ((a[0], 5, 10), (b[1], 2, 3)):
            self.assertEqual(self.survey(m, {"satisfaction": sat, "recommend": rec}).status, 201)
        self.assertEqual(self.patch(self.complaint(a[1], "staff"),
                                    {"status": "resolved", "compensation_points": 40}).status, 200)
        self.complaint(b[1], "queue")

        whole, parts = self.kpis(), [self.kpis(store_id=s) for s in (wa, wb)]
        self.assertEqual(whole["repeat_purchase"], {"buyers": 5, "repeat_buyers": 3,
                                                    "rate": 0.6, "band": "normal"})
        self.assertEqual(whole["nps"], {"responses": 2, "promoters": 1, "passives": 0,
                                        "detractors": 1, "score": 0.0})
        self.assertEqual(whole["referrals"], {"referred": 1, "converted": 1,
                                              "conversion_rate": 1.0})
        balances = sum(self.points_balance(m) for m in a + b)
        self.assertGreater(balances, 0)
        self.assertEqual(whole["points"]["outstanding"], balances)
        self.assertEqual(whole["points"]["issued"], balances)  # nothing redeemed or expired
        for key in ("issued", "redeemed", "expired", "outstanding"):
            self.assertEqual(whole["points"][key], sum(p["points"][key] for p in parts), key)
        self.assertEqual([i["issued"] for i in whole["items"]],
                         [x["issued"] + y["issued"] for x, y in zip(parts[0]["items"],
                                                                    parts[1]["items"])])
        self.assertEqual(whole["repeat_purchase"]["buyers"],
                         sum(p["repeat_purchase"]["buyers"] for p in parts))

        doc = self.report("complaints")
        self.assertEqual((doc["open"], doc["resolved"], doc["compensation_points"],
                          [i["category"] for i in doc["items"]]), (1, 1, 40, ["queue", "staff"]))
        per_store = [self.report("complaints", store_id=s) for s in (wa, wb)]
        self.assertEqual(doc["items"], sorted(per_store[0]["items"] + per_store[1]["items"],
                                              key=lambda i: i["category"]))


if __name__ == "__main__":
    harness.main()
