"""Redemptions, coupons, cancellation and point adjustments: the contract's codes in their
order, and the races (one member's balance, one reward's stock) under real concurrency."""

import datetime
import re
import secrets
import threading

import harness
from harness import (DaemonTestCase, assert_problem, enroll, error_fields, make_key,
                     member_token, parse_time, q)

REDEMPTION_KEYS = ("id", "member_id", "reward_id", "quantity", "points_spent", "balance_after",
                   "coupon_code", "coupon_codes", "status", "created_at", "cancelled_at")
CODE_RE = re.compile(r"^[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{5}$")


class RedemptionsTest(DaemonTestCase):
    # More workers (and pool connections) than the default two, so the
    # races below really run requests at the same time.
    daemon_threads = 8

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tiers = harness.rule_tiers(cls.daemon)
        cls.pos = make_key(cls.daemon, "pos")["key"]
        cls.app = make_key(cls.daemon, "app")["key"]

    def tearDown(self):
        self.assert_ledger_invariant()

    # ---------------------------------------------------------------- helpers

    def reward(self, **fields):
        body = {"code": "r-" + secrets.token_hex(5), "name": "Gift", "kind": "gift",
                "points_cost": 100, "active": True}
        body.update(fields)
        r = self.req("POST", "/v1/rewards", body)
        self.assertEqual(r.status, 201, r)
        return r.json()

    def member(self, points=0):
        m = enroll(self.daemon)
        if points:
            self.adjust(m, points)
        return m

    def adjust(self, m, points, reason="test grant", token=harness.ADMIN):
        r = self.req("POST", "/v1/members/%s/adjustments" % q(m["id"]),
                     {"points": points, "reason": reason}, token=token)
        self.assertEqual(r.status, 201, r)
        return r.json()

    def redeem(self, m, w, quantity=None, token=harness.ADMIN):
        body = {"reward_id": w["id"]}
        if quantity is not None:
            body["quantity"] = quantity
        return self.req("POST", "/v1/members/%s/redemptions" % q(m["id"]), body, token=token)

    def points_balance(self, m):
        r = self.req("GET", "/v1/members/" + q(m["id"]))
        self.assertEqual(r.status, 200, r)
        return r.json()["points_balance"]

    def stock(self, w):
        r = self.req("GET", "/v1/rewards?all=true&limit=500")
        self.assertEqual(r.status, 200, r)
        for x in r.json()["items"]:
            if x["id"] == w["id"]:
                return x["stock"]
        raise AssertionError("reward %s not listed" % w["id"])

    def set_tier(self, m, tier):
        self.psql("UPDATE members SET tier = %s WHERE card_number = %s;"
                  % (harness.quote_literal(tier), harness.quote_literal(m["card_number"])))

    def ledger_kinds(self, m):
        out = self.psql("SELECT l.kind || ':' || l.points FROM ledger_entries l "
                        "JOIN members m ON m.id = l.member_id WHERE m.card_number = %s "
                        "ORDER BY l.id;" % harness.quote_literal(m["card_number"]))
        return [line for line in out.split("\n") if line]

    def coupon_statuses(self, red):
        out = self.psql("SELECT status FROM coupons WHERE code IN (%s) ORDER BY id;"
                        % ", ".join(harness.quote_literal(c) for c in red["coupon_codes"]))
        return [line for line in out.split("\n") if line]

    def assert_redemption(self, x):
        self.assertEqual(sorted(x), sorted(REDEMPTION_KEYS), x)
        self.assertTrue(x["id"].startswith("red_"), x)
        self.assertEqual(len(x["coupon_codes"]), x["quantity"])
        self.assertEqual(x["coupon_code"], x["coupon_codes"][0])
        for c in x["coupon_codes"]:
            self.assertRegex(c, CODE_RE)
        parse_time(x["created_at"])

    def race(self, calls):
        """Runs every call (a function returning a Response) in its own thread at once."""
        results = [None] * len(calls)
        start = threading.Barrier(len(calls))

        def run(i):
            start.wait()
            try:
                results[i] = calls[i]()
            except Exception as ex:  # reported below, with the others
                results[i] = ex
        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        for r in results:
            self.assertNotIsInstance(r, Exception, r)
        return results

    # ---------------------------------------------------------------- redeem

    def test_redeem_on_a_connection_that_died_idle(self):
        """A connection that died while idle (a database restart, a
        terminated backend) fails at its transaction's first round trip,
        which for a redemption locks the member and the reward together.
        Nothing was done, so the daemon reconnects and sends them again:
        201, not 503.  One worker with one connection, so the redemption
        meets the dead one."""
        w = self.reward(points_cost=10)
        m = self.member(points=100)
        since = self.psql("SELECT now();").strip()
        d = harness.Daemon(self.db, threads=1, args=("--pool-size", "1"))
        try:
            path = "/v1/members/%s/redemptions" % q(m["id"])
            r = d.request("POST", path, {"reward_id": w["id"]})
            self.assertEqual(r.status, 201, r)
            # That daemon's connections but its LISTEN ones (on threads of
            # their own; the credential cache stays valid meanwhile).
            killed = self.psql(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = 'loyaltyd' "
                "AND backend_start > %s AND query NOT LIKE 'LISTEN %%';"
                % harness.quote_literal(since)).strip()
            self.assertGreaterEqual(int(killed), 1)
            r = d.request("POST", path, {"reward_id": w["id"]})
            self.assertEqual(r.status, 201, r)
            self.assertEqual(r.json()["balance_after"], 80)
            d.stop()  # asserts exit code 0 and no sanitizer report
        finally:
            d.stop()
        self.assertEqual(self.points_balance(m), 80)

    def test_redeem(self):
        w = self.reward(points_cost=150, stock=10)
        m = self.member(1000)
        r = self.redeem(m, w)
        self.assertEqual(r.status, 201, r)
        x = r.json()
        self.assert_redemption(x)
        self.assertEqual((x["member_id"], x["reward_id"], x["quantity"], x["points_spent"],
                          x["balance_after"], x["status"]),
                         (m["id"], w["id"], 1, 150, 850, "issued"))
        self.assertIsNone(x["cancelled_at"])
        self.assertEqual(self.points_balance(m), 850)
        self.assertEqual(self.stock(w), 9)
        self.assertEqual(self.ledger_kinds(m), ["adjust:1000", "redeem:-150"])
        r = self.req("GET", "/v1/members/%s/redemptions" % q(m["id"]))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"items": [x], "next_cursor": None})

    def test_redeem_quantity(self):
        w = self.reward(points_cost=40, stock=5)
        m = self.member(200)
        r = self.redeem(m, w, quantity=3)
        self.assertEqual(r.status, 201, r)
        x = r.json()
        self.assert_redemption(x)
        self.assertEqual((x["quantity"], x["points_spent"], x["balance_after"]), (3, 120, 80))
        self.assertEqual(len(set(x["coupon_codes"])), 3)
        self.assertEqual(self.stock(w), 2)
        for bad in (0, 101, -1, 1.5, "2", None):
            with self.subTest(quantity=bad):
                r = self.req("POST", "/v1/members/%s/redemptions" % q(m["id"]),
                             {"reward_id": w["id"], "quantity": bad})
                doc = assert_problem(self, r, 400, "validation_failed")
                self.assertIn("quantity", error_fields(doc))

    def test_unlimited_stock_stays_unlimited(self):
        w = self.reward(points_cost=1)
        m = self.member(10)
        self.assertEqual(self.redeem(m, w, quantity=4).status, 201)
        self.assertIsNone(self.stock(w))

    def test_body_validation(self):
        m = self.member(100)
        before = self.fingerprint()
        for body, field in (({}, "reward_id"), ({"reward_id": 5}, "reward_id"),
                            ({"reward_id": ""}, "reward_id"),
                            ({"reward_id": "rwd_1", "extra": 1}, "extra")):
            with self.subTest(body=body):
                r = self.req("POST", "/v1/members/%s/redemptions" % q(m["id"]), body)
                doc = assert_problem(self, r, 400, "validation_failed")
                self.assertIn(field, error_fields(doc))
        # the body is checked before the member is looked up
        r = self.req("POST", "/v1/members/%s/redemptions" % q(harness.absent_id_like(m["id"])),
                     {})
        assert_problem(self, r, 400, "validation_failed")
        self.assertEqual(self.fingerprint(), before)

    def test_not_found(self):
        w = self.reward()
        m = self.member(1000)
        before = self.fingerprint()
        for mid in (harness.absent_id_like(m["id"]), "nobody"):
            r = self.req("POST", "/v1/members/%s/redemptions" % q(mid), {"reward_id": w["id"]})
            assert_problem(self, r, 404, "not_found")
            assert_problem(self, self.req("GET", "/v1/members/%s/redemptions" % q(mid)), 404,
                           "not_found")
        for rid in (harness.absent_id_like(w["id"]), "nonsense", "mem_1"):
            r = self.req("POST", "/v1/members/%s/redemptions" % q(m["id"]), {"reward_id": rid})
            assert_problem(self, r, 404, "not_found")
        self.assertEqual(self.fingerprint(), before)

    def test_refusals_change_nothing(self):
        m = self.member(250)
        cases = [
            (self.reward(points_cost=300), None, 409, "insufficient_points"),
            (self.reward(points_cost=100), 3, 409, "insufficient_points"),
            (self.reward(stock=0), None, 409, "out_of_stock"),
            (self.reward(stock=2), 3, 409, "out_of_stock"),
            (self.reward(active=False), None, 409, "conflict"),
            (self.reward(valid_from="2099-01-01T00:00:00Z"), None, 409, "conflict"),
            (self.reward(valid_until="2020-01-01T00:00:00Z"), None, 409, "conflict"),
            (self.reward(min_tier=self.tiers[-1]), None, 403, "forbidden"),
            (self.reward(per_member_limit=2), 3, 409, "limit_reached"),
        ]
        for w, quantity, status, code in cases:
            with self.subTest(reward=w, quantity=quantity):
                before = self.fingerprint()
                assert_problem(self, self.redeem(m, w, quantity), status, code)
                self.assertEqual(self.fingerprint(), before)
        self.assertEqual(self.points_balance(m), 250)

    def test_order_of_checks(self):
        """A request failing several checks always gets the first one's answer."""
        m = self.member(10)
        # conflict (inactive) before forbidden, limit, stock and points
        w = self.reward(active=False, min_tier=self.tiers[-1], per_member_limit=1, stock=0,
                        points_cost=1000)
        assert_problem(self, self.redeem(m, w, 2), 409, "conflict")
        # forbidden before limit, stock and points
        w = self.reward(min_tier=self.tiers[-1], per_member_limit=1, stock=0, points_cost=1000)
        assert_problem(self, self.redeem(m, w, 2), 403, "forbidden")
        # limit before stock and points
        w = self.reward(per_member_limit=1, stock=0, points_cost=1000)
        assert_problem(self, self.redeem(m, w, 2), 409, "limit_reached")
        # stock before points
        w = self.reward(stock=0, points_cost=1000)
        assert_problem(self, self.redeem(m, w), 409, "out_of_stock")
        # member_inactive before a missing reward
        r = self.req("PATCH", "/v1/members/" + q(m["id"]), {"status": "suspended"})
        self.assertEqual(r.status, 200, r)
        assert_problem(self, self.req("POST", "/v1/members/%s/redemptions" % q(m["id"]),
                                      {"reward_id": "rwd_999999999"}), 409, "member_inactive")

    def test_member_inactive(self):
        w = self.reward(points_cost=10)
        m = self.member(100)
        r = self.redeem(m, w)
        self.assertEqual(r.status, 201, r)
        red = r.json()
        self.assertEqual(self.req("PATCH", "/v1/members/" + q(m["id"]),
                                  {"status": "suspended"}).status, 200)
        before = self.fingerprint()
        assert_problem(self, self.redeem(m, w), 409, "member_inactive")
        r = self.req("POST", "/v1/members/%s/adjustments" % q(m["id"]),
                     {"points": 5, "reason": "x"})
        assert_problem(self, r, 409, "member_inactive")
        self.assertEqual(self.fingerprint(), before)
        # staff may still cancel a suspended member's redemption
        r = self.req("POST", "/v1/redemptions/%s/cancel" % red["id"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.points_balance(m), 100)
        # a closed member's are final
        self.assertEqual(self.req("PATCH", "/v1/members/" + q(m["id"]),
                                  {"status": "active"}).status, 200)
        red = self.redeem(m, w).json()
        self.assertEqual(self.req("DELETE", "/v1/members/" + q(m["id"])).status, 204)
        before = self.fingerprint()
        assert_problem(self, self.redeem(m, w), 409, "member_inactive")
        assert_problem(self, self.req("POST", "/v1/redemptions/%s/cancel" % red["id"]), 409,
                       "member_inactive")
        self.assertEqual(self.fingerprint(), before)

    def test_min_tier(self):
        low, high = self.tiers[0], self.tiers[-1]
        w = self.reward(min_tier=self.tiers[1], points_cost=10)
        m = self.member(100)
        self.set_tier(m, low)
        assert_problem(self, self.redeem(m, w), 403, "forbidden")
        self.set_tier(m, self.tiers[1])
        self.assertEqual(self.redeem(m, w).status, 201)
        self.set_tier(m, high)
        self.assertEqual(self.redeem(m, w).status, 201)

    def test_per_member_limit(self):
        w = self.reward(points_cost=10, per_member_limit=3)
        m = self.member(1000)
        other = self.member(1000)
        first = self.redeem(m, w, 2)
        self.assertEqual(first.status, 201, first)
        self.assertEqual(self.redeem(m, w).status, 201)
        assert_problem(self, self.redeem(m, w), 409, "limit_reached")
        # the limit is per member
        self.assertEqual(self.redeem(other, w, 3).status, 201)
        # a cancelled redemption no longer counts
        r = self.req("POST", "/v1/redemptions/%s/cancel" % first.json()["id"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.redeem(m, w, 2).status, 201)
        assert_problem(self, self.redeem(m, w), 409, "limit_reached")

    def test_coupon_codes_unique_and_readable(self):
        w = self.reward(points_cost=1)
        m = self.member(300)
        codes = []
        for _ in range(3):
            r = self.redeem(m, w, 100)
            self.assertEqual(r.status, 201, r)
            codes += r.json()["coupon_codes"]
        self.assertEqual(len(codes), 300)
        self.assertEqual(len(set(codes)), 300)
        for c in codes:
            self.assertRegex(c, CODE_RE)
            symbols = c.replace("-", "")
            self.assertGreaterEqual(len(symbols), 13)
            for bad in "0O1IL":
                self.assertNotIn(bad, symbols)
        listed = self.req("GET", "/v1/members/%s/redemptions" % q(m["id"])).json()["items"]
        self.assertEqual([c for x in reversed(listed) for c in x["coupon_codes"]], codes)

    def test_idempotent_redeem(self):
        w = self.reward(points_cost=10, stock=5)
        m = self.member(100)
        k = "idem-" + secrets.token_hex(8)
        path = "/v1/members/%s/redemptions" % q(m["id"])
        r1 = self.req("POST", path, {"reward_id": w["id"]}, headers={"Idempotency-Key": k})
        self.assertEqual(r1.status, 201, r1)
        before = self.fingerprint()
        r2 = self.req("POST", path, {"reward_id": w["id"]}, headers={"Idempotency-Key": k})
        self.assertEqual((r2.status, r2.body), (r1.status, r1.body))
        self.assertEqual(self.fingerprint(), before)
        self.assertEqual((self.points_balance(m), self.stock(w)), (90, 4))

    # ---------------------------------------------------------------- member token

    def test_member_token(self):
        w = self.reward(points_cost=25)
        m = self.member(100)
        other = self.member(100)
        tok = member_token(self.daemon, m["id"])["token"]
        r = self.req("POST", "/v1/me/redemptions", {"reward_id": w["id"], "quantity": 2},
                     token=tok)
        self.assertEqual(r.status, 201, r)
        x = r.json()
        self.assert_redemption(x)
        self.assertEqual((x["member_id"], x["balance_after"]), (m["id"], 50))
        r = self.req("GET", "/v1/me/redemptions", token=tok)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"items": [x], "next_cursor": None})
        before = self.fingerprint()
        for path in ("/v1/members/%s/redemptions" % q(other["id"]),
                     "/v1/members/%s/redemptions" % q(m["id"])):
            assert_problem(self, self.req("POST", path, {"reward_id": w["id"]}, token=tok), 403,
                           "forbidden")
            assert_problem(self, self.req("GET", path, token=tok), 403, "forbidden")
        assert_problem(self, self.req("POST", "/v1/redemptions/%s/cancel" % x["id"], token=tok),
                       403, "forbidden")
        assert_problem(self, self.req("POST", "/v1/members/%s/adjustments" % q(m["id"]),
                                      {"points": 5, "reason": "x"}, token=tok), 403, "forbidden")
        # API keys are not members
        assert_problem(self, self.req("POST", "/v1/me/redemptions", {"reward_id": w["id"]}),
                       403, "forbidden")
        self.assertEqual(self.fingerprint(), before)
        self.assertEqual(self.points_balance(other), 100)

    def test_roles(self):
        w = self.reward(points_cost=1)
        m = self.member(10)
        for token in (self.pos, self.app):
            r = self.redeem(m, w, token=token)
            self.assertEqual(r.status, 201, r)
            self.assertEqual(self.req("GET", "/v1/members/%s/redemptions" % q(m["id"]),
                                      token=token).status, 200)
        red = r.json()
        assert_problem(self, self.req("POST", "/v1/redemptions/%s/cancel" % red["id"],
                                      token=self.app), 403, "forbidden")
        self.assertEqual(self.req("POST", "/v1/redemptions/%s/cancel" % red["id"],
                                  token=self.pos).status, 200)
        for token in (self.pos, self.app):
            r = self.req("POST", "/v1/members/%s/adjustments" % q(m["id"]),
                         {"points": 1, "reason": "x"}, token=token)
            assert_problem(self, r, 403, "forbidden")

    # ---------------------------------------------------------------- lists

    def test_list_paging(self):
        w = self.reward(points_cost=1)
        m = self.member(10)
        made = [self.redeem(m, w).json()["id"] for _ in range(5)]
        path = "/v1/members/%s/redemptions" % q(m["id"])
        seen, cursor = [], None
        while True:
            r = self.req("GET", path + "?limit=2" + ("&cursor=" + q(cursor) if cursor else ""))
            self.assertEqual(r.status, 200, r)
            doc = r.json()
            self.assertLessEqual(len(doc["items"]), 2)
            seen += [x["id"] for x in doc["items"]]
            cursor = doc["next_cursor"]
            if cursor is None:
                break
        self.assertEqual(seen, made[::-1])
        for bad in ("limit=0", "limit=501", "cursor=rwd_1", "cursor=", "x=1"):
            assert_problem(self, self.req("GET", path + "?" + bad), 400, "validation_failed")
        empty = self.member()
        r = self.req("GET", "/v1/members/%s/redemptions" % q(empty["id"]))
        self.assertEqual(r.json(), {"items": [], "next_cursor": None})

    # ---------------------------------------------------------------- cancel

    def test_cancel(self):
        w = self.reward(points_cost=70, stock=10)
        m = self.member(500)
        red = self.redeem(m, w, 3).json()
        self.assertEqual((self.points_balance(m), self.stock(w)), (290, 7))
        r = self.req("POST", "/v1/redemptions/%s/cancel" % red["id"])
        self.assertEqual(r.status, 200, r)
        x = r.json()
        self.assert_redemption(x)
        self.assertEqual(x["status"], "cancelled")
        parse_time(x["cancelled_at"])
        for k in ("id", "member_id", "reward_id", "quantity", "points_spent", "coupon_codes",
                  "created_at"):
            self.assertEqual(x[k], red[k], k)
        self.assertEqual((self.points_balance(m), self.stock(w)), (500, 10))
        self.assertEqual(self.ledger_kinds(m), ["adjust:500", "redeem:-210", "redeem_cancel:210"])
        self.assertEqual(self.coupon_statuses(red), ["cancelled"] * 3)
        listed = self.req("GET", "/v1/members/%s/redemptions" % q(m["id"])).json()["items"]
        self.assertEqual(listed, [x])
        before = self.fingerprint()
        assert_problem(self, self.req("POST", "/v1/redemptions/%s/cancel" % red["id"]), 409,
                       "conflict")
        for rid in (harness.absent_id_like(red["id"]), "nonsense"):
            assert_problem(self, self.req("POST", "/v1/redemptions/%s/cancel" % q(rid)), 404,
                           "not_found")
        self.assertEqual(self.fingerprint(), before)

    def test_cancel_unlimited_and_patched_stock(self):
        w = self.reward(points_cost=5)
        m = self.member(50)
        red = self.redeem(m, w, 2).json()
        self.assertEqual(self.req("POST", "/v1/redemptions/%s/cancel" % red["id"]).status, 200)
        self.assertIsNone(self.stock(w))
        w = self.reward(points_cost=5, stock=3)
        red = self.redeem(m, w, 2).json()
        self.assertEqual(self.req("PATCH", "/v1/rewards/" + w["id"], {"stock": 0}).status, 200)
        self.assertEqual(self.req("POST", "/v1/redemptions/%s/cancel" % red["id"]).status, 200)
        self.assertEqual(self.stock(w), 2)

    def test_cancel_used_conflicts(self):
        w = self.reward(kind="discount", discount_value=500, points_cost=10)
        m = self.member(100)
        red = self.redeem(m, w).json()
        # a purchase applying the coupon marks coupon and redemption used
        self.psql("UPDATE redemptions SET status = 'used', used_at = now() WHERE id = "
                  "(SELECT redemption_id FROM coupons WHERE code = %s);"
                  % harness.quote_literal(red["coupon_code"]))
        before = self.fingerprint()
        assert_problem(self, self.req("POST", "/v1/redemptions/%s/cancel" % red["id"]), 409,
                       "conflict")
        self.assertEqual(self.fingerprint(), before)
        got = self.req("GET", "/v1/members/%s/redemptions" % q(m["id"])).json()["items"][0]
        self.assertEqual(got["status"], "used")

    def purchase(self, m, coupon_code, path="/v1/purchases"):
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        body = {"store_id": "S001", "terminal_id": "T01",
                "pos_transaction_id": "h10-" + secrets.token_hex(6), "member_id": m["id"],
                "occurred_at": now.isoformat(),
                "items": [{"sku": "A1", "category": "grocery", "quantity": 2,
                           "unit_price": 2500}],
                "coupon_code": coupon_code}
        return self.req("POST", path, body)

    def test_coupon_used_by_purchase(self):
        w = self.reward(kind="discount", discount_value=500, points_cost=10)
        m = self.member(100)
        red = self.redeem(m, w, 2).json()
        code = red["coupon_codes"][1]
        # a quote computes with the coupon but uses nothing
        r = self.purchase(m, code, path="/v1/purchases/quote")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.coupon_statuses(red), ["issued", "issued"])
        # typed at a till: any case, with or without dashes
        r = self.purchase(m, code.replace("-", "").lower())
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["discount_total"], 500)
        self.assertEqual(self.coupon_statuses(red), ["issued", "used"])
        got = self.req("GET", "/v1/members/%s/redemptions" % q(m["id"])).json()["items"][0]
        self.assertEqual(got["status"], "used")
        before = self.fingerprint()
        assert_problem(self, self.purchase(m, code), 409, "conflict")
        assert_problem(self, self.req("POST", "/v1/redemptions/%s/cancel" % red["id"]), 409,
                       "conflict")
        self.assertEqual(self.fingerprint(), before)
        # the redemption's other coupon still works; another member's does not
        other = self.member(100)
        assert_problem(self, self.purchase(other, red["coupon_codes"][0]), 400,
                       "validation_failed")
        self.assertEqual(self.purchase(m, red["coupon_codes"][0]).status, 201)
        # a cancelled redemption's coupons are withdrawn
        red2 = self.redeem(m, w).json()
        self.assertEqual(self.req("POST", "/v1/redemptions/%s/cancel" % red2["id"]).status, 200)
        assert_problem(self, self.purchase(m, red2["coupon_code"]), 409, "conflict")

    def test_cancel_body(self):
        w = self.reward(points_cost=5)
        m = self.member(50)
        red = self.redeem(m, w).json()
        r = self.req("POST", "/v1/redemptions/%s/cancel" % red["id"], {"reason": "x"})
        assert_problem(self, r, 400, "validation_failed")
        r = self.req("POST", "/v1/redemptions/%s/cancel" % red["id"], {})
        self.assertEqual(r.status, 200, r)

    # ---------------------------------------------------------------- adjustments

    def test_adjustments(self):
        m = self.member()
        r = self.req("POST", "/v1/members/%s/adjustments" % q(m["id"]),
                     {"points": 300, "reason": "投诉补偿"})
        self.assertEqual(r.status, 201, r)
        doc = r.json()
        self.assertEqual(sorted(doc), ["balance_after", "entry"])
        e = doc["entry"]
        self.assertTrue(e["id"].startswith("led_"), e)
        self.assertEqual((e["kind"], e["points"], e["balance_after"], e["reason"]),
                         ("adjust", 300, 300, "投诉补偿"))
        self.assertEqual(doc["balance_after"], 300)
        parse_time(e["created_at"])
        doc = self.adjust(m, -120)
        self.assertEqual((doc["entry"]["points"], doc["balance_after"]), (-120, 180))
        before = self.fingerprint()
        r = self.req("POST", "/v1/members/%s/adjustments" % q(m["id"]),
                     {"points": -181, "reason": "too much"})
        assert_problem(self, r, 409, "insufficient_points")
        self.assertEqual(self.fingerprint(), before)
        doc = self.adjust(m, -180)
        self.assertEqual(doc["balance_after"], 0)
        self.assertEqual(self.points_balance(m), 0)
        self.assertEqual(self.ledger_kinds(m), ["adjust:300", "adjust:-120", "adjust:-180"])

    def test_adjustment_validation(self):
        m = self.member(10)
        path = "/v1/members/%s/adjustments" % q(m["id"])
        before = self.fingerprint()
        for body, field in (({"points": 0, "reason": "x"}, "points"),
                            ({"points": 1000000001, "reason": "x"}, "points"),
                            ({"points": -1000000001, "reason": "x"}, "points"),
                            ({"points": 1.5, "reason": "x"}, "points"),
                            ({"reason": "x"}, "points"),
                            ({"points": 5}, "reason"),
                            ({"points": 5, "reason": ""}, "reason"),
                            ({"points": 5, "reason": "理" * 201}, "reason"),
                            ({"points": 5, "reason": None}, "reason"),
                            ({"points": 5, "reason": "x", "kind": "earn"}, "kind")):
            with self.subTest(body=body):
                doc = assert_problem(self, self.req("POST", path, body), 400,
                                     "validation_failed")
                self.assertIn(field, error_fields(doc))
        for mid in (harness.absent_id_like(m["id"]), "nobody"):
            r = self.req("POST", "/v1/members/%s/adjustments" % q(mid),
                         {"points": 5, "reason": "x"})
            assert_problem(self, r, 404, "not_found")
        self.assertEqual(self.fingerprint(), before)
        self.assertEqual(self.adjust(m, 1000000000)["balance_after"], 1000000010)
        self.assertEqual(self.adjust(m, -1000000000)["balance_after"], 10)
        self.assertEqual(self.adjust(m, 200, reason="理" * 200)["entry"]["reason"], "理" * 200)

    # ---------------------------------------------------------------- races

    def test_race_one_member_40_for_10(self):
        """40 redemptions at once of a member who can afford exactly 10."""
        w = self.reward(points_cost=100)
        m = self.member(1000)
        results = self.race([lambda: self.redeem(m, w)] * 40)
        statuses = sorted(r.status for r in results)
        self.assertEqual(statuses, [201] * 10 + [409] * 30, [r for r in results])
        for r in results:
            if r.status == 409:
                assert_problem(self, r, 409, "insufficient_points")
        self.assertEqual(self.points_balance(m), 0)
        made = [r.json() for r in results if r.status == 201]
        self.assertEqual(sorted(x["balance_after"] for x in made), list(range(0, 1000, 100)))
        kinds = self.ledger_kinds(m)
        self.assertEqual(kinds, ["adjust:1000"] + ["redeem:-100"] * 10)
        listed = self.req("GET", "/v1/members/%s/redemptions" % q(m["id"])).json()["items"]
        self.assertEqual(len(listed), 10)

    def held_pending_grant(self, m, points):
        """A psql transaction that locks the member's row and grants it
        `points` pending points (a ledger entry, its lot spendable only in 14
        days, the balance), committed by release().  Whoever waits on the row
        meanwhile must see the grant as pending once it gets the lock."""
        n = harness.id_num(m["id"])
        return harness.LockSession(self.cluster, self.db, (
            "WITH m AS (SELECT id, points_balance FROM members WHERE id = %(n)d FOR UPDATE),"
            " e AS (INSERT INTO ledger_entries (member_id, kind, points, balance_after, reason)"
            "  SELECT id, 'bonus', %(p)d, points_balance + %(p)d, 'held' FROM m"
            "  RETURNING member_id, id),"
            " l AS (INSERT INTO point_lots (member_id, entry_id, points, remaining, expires_on,"
            "  available_on, released)"
            "  SELECT member_id, id, %(p)d, %(p)d, current_date + 400, current_date + 14, false"
            "  FROM e),"
            " u AS (UPDATE members SET points_balance = points_balance + %(p)d"
            "  WHERE id = (SELECT id FROM m))"
            " SELECT 'locked';") % {"n": n, "p": points})

    def while_waiting_on_row(self, lock, call):
        """Runs call() in a thread until it waits on a row lock, releases
        `lock`, and returns call()'s response."""
        result = {}

        def run():
            try:
                result["r"] = call()
            except Exception as ex:  # reported below
                result["r"] = ex
        t = threading.Thread(target=run)
        try:
            t.start()
            waiting, _ = harness.poll_until(lambda: self.psql(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock';").strip() != "0", 30)
            self.assertTrue(waiting, "never waited on the member's row: %r" % result)
        finally:
            lock.release()
        t.join(60)
        self.assertNotIsInstance(result.get("r"), Exception, result)
        return result["r"]

    def test_pending_points_granted_while_waiting_are_not_spent(self):
        """A redemption that waited for the member's row sees what the writer
        it waited for granted as pending: the lock's row is the writer's, and
        so must the pending sum be (a statement's snapshot predates its wait)."""
        w = self.reward(points_cost=300)
        m = self.member(100)
        r = self.while_waiting_on_row(self.held_pending_grant(m, 500), lambda: self.redeem(m, w))
        assert_problem(self, r, 409, "insufficient_points")
        self.assertIn("spendable balance is 100", r.json()["detail"])
        b = self.balance(m)
        self.assertEqual((b["points_balance"], b["pending_points"]), (600, 500))
        r = self.redeem(m, self.reward(points_cost=100))
        self.assertEqual((r.status, r.json()["balance_after"]), (201, 500), r)

    def test_pending_points_granted_while_waiting_with_an_idempotency_key(self):
        """The same for a keyed redemption, whose group claims its key
        first.  (The re-read of a redemption alone, store_redemption_locks,
        is not reached here: gathering is always on, and a redemption goes
        alone only after its group has held the member's lock.)"""
        w = self.reward(points_cost=300)
        m = self.member(100)
        r = self.while_waiting_on_row(self.held_pending_grant(m, 500), lambda: self.req(
            "POST", "/v1/members/%s/redemptions" % q(m["id"]), {"reward_id": w["id"]},
            headers={"Idempotency-Key": secrets.token_hex(8)}))
        assert_problem(self, r, 409, "insufficient_points")
        self.assertEqual(self.points_balance(m), 600)

    def test_pending_points_granted_while_waiting_alone(self):
        """The same for a redemption redeemed alone, store_redemption_locks'
        re-read.  A psql session holds the advisory lock of the request's
        Idempotency-Key, so its group does not take it and sends it alone
        before locking anything; alone it waits for the key, then, once
        the key is free, for the member's row, which the pending grant
        holds."""
        w = self.reward(points_cost=300)
        m, other = self.member(100), self.member()
        probe = "k-" + secrets.token_hex(6)
        r = self.req("POST", "/v1/members/%s/adjustments" % q(other["id"]),
                     {"points": 1, "reason": "probe"}, headers={"Idempotency-Key": probe})
        self.assertEqual(r.status, 201, r)
        scope = self.psql("SELECT scope FROM idempotency_keys WHERE key = '%s';" % probe).strip()
        key, path = "k-" + secrets.token_hex(6), "/v1/members/%s/redemptions" % m["id"]
        key_lock = harness.LockSession(self.cluster, self.db, (
            "SELECT 'locked' FROM (SELECT pg_advisory_xact_lock(hashtextextended("
            "'%s' || chr(31) || 'POST' || chr(31) || '%s' || chr(31) || '%s', 0))) l;")
            % (scope, path, key))
        row_lock = self.held_pending_grant(m, 500)
        out = []
        t = threading.Thread(target=lambda: out.append(self.req(
            "POST", path, {"reward_id": w["id"]}, headers={"Idempotency-Key": key})))

        def waits(kinds):
            return self.psql("SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype IN (%s);"
                             % kinds).strip() == "1"
        try:
            t.start()
            waiting, _ = harness.poll_until(lambda: waits("'advisory'"), 30)
            self.assertTrue(waiting, "the redemption never waited for its key: %r" % out)
            key_lock.release()
            waiting, _ = harness.poll_until(lambda: waits("'transactionid', 'tuple'"), 30)
            self.assertTrue(waiting, "the redemption never waited for the member: %r" % out)
        finally:
            key_lock.release()
            row_lock.release()
            t.join(60)
        assert_problem(self, out[0], 409, "insufficient_points")
        self.assertIn("spendable balance is 100", out[0].json()["detail"])
        self.assertEqual(self.points_balance(m), 600)

    def test_pending_points_granted_while_waiting_are_not_adjusted_away(self):
        m = self.member(100)
        r = self.while_waiting_on_row(self.held_pending_grant(m, 500), lambda: self.req(
            "POST", "/v1/members/%s/adjustments" % q(m["id"]), {"points": -300, "reason": "x"}))
        assert_problem(self, r, 409, "insufficient_points")
        self.assertEqual(self.points_balance(m), 600)

    def test_race_stock_3_for_20_members(self):
        w = self.reward(points_cost=10, stock=3)
        members = [self.member(100) for _ in range(20)]
        results = self.race([(lambda m=m: self.redeem(m, w)) for m in members])
        statuses = sorted(r.status for r in results)
        self.assertEqual(statuses, [201] * 3 + [409] * 17, [r for r in results])
        for r in results:
            if r.status == 409:
                assert_problem(self, r, 409, "out_of_stock")
        self.assertEqual(self.stock(w), 0)
        self.assertEqual(sorted(self.points_balance(m) for m in members), [90] * 3 + [100] * 17)

    def test_race_redeem_cancel_adjust(self):
        """Redemptions, cancellations and adjustments of one member and one reward interleave
        without a deadlock or a lost update."""
        w = self.reward(points_cost=10, stock=100)
        m = self.member(1000)
        first = [self.redeem(m, w).json() for _ in range(10)]
        calls = [lambda: self.redeem(m, w)] * 10
        calls += [(lambda x=x: self.req("POST", "/v1/redemptions/%s/cancel" % x["id"]))
                  for x in first]
        calls += [lambda: self.req("POST", "/v1/members/%s/adjustments" % q(m["id"]),
                                   {"points": 5, "reason": "race"})] * 10
        calls += [lambda: self.req("PATCH", "/v1/rewards/" + w["id"], {"name": "renamed"})] * 5
        results = self.race(calls)
        self.assertEqual([r.status for r in results],
                         [201] * 10 + [200] * 10 + [201] * 10 + [200] * 5, results)
        # 1000 - 10 x 10 (first) + 10 x 10 (cancelled) - 10 x 10 (second) + 10 x 5
        self.assertEqual(self.points_balance(m), 950)
        self.assertEqual(self.stock(w), 90)


if __name__ == "__main__":
    harness.main()
