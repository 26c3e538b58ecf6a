"""POST /v1/rules/simulate: a draft rule set over the purchases recorded in a
window, against what was granted.

A hand-built data set (three members, two stores, nine purchases recorded
through the API under a known rule set R0, one of them with a coupon and one
paying with points) is simulated with
  (a) R0 itself: every difference is exactly 0, which also shows that the
      member facts are rebuilt as they were (R0's promotion needs
      member.purchase_count >= 1, so a purchase count taken from the window
      alone would lose its bonus);
  (b) R0 with the fresh multiplier doubled: differences computed by hand, in
      total, by tier, by store and for the top members;
  (b2) R0 with a larger silver discount and a smaller redemption cap: a
      discount difference and one refused purchase;
then (c) invalid drafts answer 400 with every error under "rules...", (d)
bad windows answer 400, (e) only admin keys may simulate, and (f) nothing in
the database changes.  The ledger invariant holds at the end (`loyaltyd
check`)."""

import copy
import datetime
import secrets

import harness
from harness import (DaemonTestCase, assert_problem, enroll, error_fields, make_key,
                     member_token, q)

SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))
PATH = "/v1/rules/simulate"

# R0: 1 point per 100 minor units, fresh x2, tobacco excluded; silver from
# 10000 of spend with 10% off and points x2; a promotion worth 7 bonus points
# for a member's second and later purchases (within a day of the last one);
# 100 points pay 100 minor units, at most half the bill.  Birthdays earn
# nothing extra.  Every number below is a whole number of points.
R0 = {
    "currency": "CNY",
    "timezone": "Asia/Shanghai",
    "earn": {"points_per_unit": 1, "unit": 100, "excluded_categories": ["tobacco"],
             "category_multipliers": {"fresh": 2}},
    "tiers": [
        {"code": "basic", "name": "普通会员", "min_spend": 0, "discount_pct": 0,
         "points_multiplier": 1},
        {"code": "silver", "name": "银卡会员", "min_spend": 10000, "discount_pct": 10,
         "points_multiplier": 2},
    ],
    "tier_window_days": 365,
    "tier_downgrade_grace_days": 30,
    "birthday": {"window": "day", "multiplier": 1, "bonus_points": 0},
    "referral": {"referrer_points": 0, "referee_points": 0, "min_first_purchase": 0},
    "promotions": [
        {"code": "loyal", "multiplier": 1, "bonus_points": 7, "discount_pct": 0,
         "starts_at": "2020-01-01T00:00:00+08:00", "ends_at": "2099-01-01T00:00:00+08:00",
         "when": {"all": [{"fact": "member.purchase_count", "op": ">=", "value": 1},
                          {"fact": "member.days_since_last_purchase", "op": "<=", "value": 1}]},
         "categories": []},
    ],
    "redemption": {"points_per_unit": 100, "max_bill_pct": 50},
    "expiry": {"months": 12},
    "pending_days": 0,
    "max_discount_pct": 50,
}

KEYS = ["from", "to", "purchases", "refused", "points", "discount", "by_tier", "by_store",
        "top_members"]


def item(sku, category, quantity, unit_price):
    return {"sku": sku, "category": category, "quantity": quantity, "unit_price": unit_price}


def iso(t):
    return t.astimezone(SHANGHAI).isoformat()


def group(key, value, purchases, points, discount):
    return {key: value, "purchases": purchases, "points_difference": points,
            "discount_difference": discount}


class SimulateTest(DaemonTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        d = cls.daemon
        r = d.request("PUT", "/v1/rules", R0)
        assert r.status == 200, r
        cls.r0 = r.json()["rules"]
        cls.a, cls.b, cls.c = enroll(d), enroll(d), enroll(d)
        # Moments: members enrolled just now, so purchases may go back a day.
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        cls.t = {n: now - datetime.timedelta(hours=h)
                 for n, h in (("p0", 20), ("from", 19), ("p1", 18), ("p2", 16), ("p3", 14),
                              ("p4", 12), ("p5", 10), ("p6", 8), ("p7", 6), ("to", 1))}
        cls.t["p8"] = now - datetime.timedelta(minutes=30)
        cls.recorded = {}
        a, b, c = cls.a, cls.b, cls.c
        # Outside the window (before it): A's first purchase.  20 points.
        cls.buy("p0", a, "S1", [item("f0", "fresh", 1, 1000)])
        # A, basic: 20 + 20 + 7 bonus = 47; doubled fresh: +20.  Free lines
        # whose categories PostgreSQL must quote in an array come first: read
        # wrongly, they would move "fresh" to another line.
        cls.buy("p1", a, "S1", [item("q1", 'a "b", {c} \\d', 1, 0), item("q2", "NULL", 1, 0),
                                item("q3", "生鲜 x", 1, 0), item("f1", "fresh", 1, 1000),
                                item("d1", "dry", 1, 2000)])
        # A, basic: 60 + 7 = 67 (tobacco earns nothing); doubled fresh: +60.
        cls.buy("p2", a, "S2", [item("f2", "fresh", 2, 1500), item("t2", "tobacco", 1, 5000)])
        # B, basic, first purchase: 30, no bonus; no fresh: +0.
        cls.buy("p3", b, "S1", [item("d3", "dry", 1, 3000)])
        # C, basic, first purchase: 200 points, and 20000 of spend makes C silver.
        cls.buy("p4", c, "S2", [item("d4", "dry", 1, 20000)], tier_after="silver")
        # C, silver: 10% off (1000 + 500); fresh 9000 -> 90 x2 x2 = 360, dry
        # 4500 -> 45 x2 = 90, + 7 = 457; doubled fresh: +360.
        cls.buy("p5", c, "S1", [item("f5", "fresh", 1, 10000), item("d5", "dry", 1, 5000)])
        # C, silver, pays 500 with 500 points: 4000 - 400 - 500 = 3100 -> 31 x2 x2
        # = 124, + 7 = 131; doubled fresh: +124.
        cls.buy("p6", c, "S1", [item("f6", "fresh", 1, 4000)], redeem_points=500)
        # B, basic, with a coupon of 500 off: 3500 -> 35 x2 = 70, + 7 = 77;
        # doubled fresh: +70.
        w = d.request("POST", "/v1/rewards", {"code": "r-" + secrets.token_hex(4),
                                              "name": "Five off", "kind": "discount",
                                              "points_cost": 10, "discount_value": 500,
                                              "active": True})
        assert w.status == 201, w
        red = d.request("POST", "/v1/members/%s/redemptions" % q(b["id"]),
                        {"reward_id": w.json()["id"]})
        assert red.status == 201, red
        cls.buy("p7", b, "S2", [item("f7", "fresh", 1, 4000)],
                coupon_code=red.json()["coupon_code"])
        # Outside the window (after it).
        cls.buy("p8", a, "S2", [item("f8", "fresh", 1, 1000)])
        expected = {"p0": 20, "p1": 47, "p2": 67, "p3": 30, "p4": 200, "p5": 457, "p6": 131,
                    "p7": 77, "p8": 27}
        got = {n: p["points_earned"] for n, p in cls.recorded.items()}
        assert got == expected, got
        discounts = {n: p["discount_total"] for n, p in cls.recorded.items()}
        assert discounts == {"p0": 0, "p1": 0, "p2": 0, "p3": 0, "p4": 0, "p5": 1500, "p6": 400,
                             "p7": 500, "p8": 0}, discounts

    @classmethod
    def buy(cls, name, member, store, items, tier_after=None, **extra):
        body = {"store_id": store, "terminal_id": "T01",
                "pos_transaction_id": "SIM-" + secrets.token_hex(6),
                "member_id": member["id"], "occurred_at": iso(cls.t[name]), "items": items}
        body.update(extra)
        r = cls.daemon.request("POST", "/v1/purchases", body)
        assert r.status == 201, (name, r)
        p = r.json()
        if tier_after is not None:
            assert p["tier_after"] == tier_after, p
        cls.recorded[name] = p
        return p

    def setUp(self):
        super().setUp()
        self.addCleanup(self.assert_ledger_invariant)

    def assert_ledger_invariant(self):
        p = harness.run_cli(["check"], dburl=self.db)
        self.assertEqual(p.returncode, 0, "loyaltyd check: %r" % (p.stderr[-2000:],))

    def simulate(self, rules, frm=None, to=None, token=harness.ADMIN, **extra):
        body = {"rules": rules, "from": iso(frm or self.t["from"]), "to": iso(to or self.t["to"])}
        body.update(extra)
        return self.req("POST", PATH, body, token=token)

    def ok(self, rules, **kw):
        r = self.simulate(rules, **kw)
        self.assertEqual(r.status, 200, r)
        doc = r.json()
        self.assertEqual(list(doc.keys()), KEYS)
        return doc

    # ------------------------------------------------------------ (a)

    def test_same_rules_change_nothing(self):
        doc = self.ok(self.r0)
        self.assertEqual(harness.parse_time(doc["from"]), self.t["from"])
        self.assertEqual(harness.parse_time(doc["to"]), self.t["to"])
        self.assertRegex(doc["from"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
        self.assertEqual(doc["purchases"], 7)
        self.assertEqual(doc["refused"], 0)
        self.assertEqual(doc["points"], {"actual": 1009, "simulated": 1009, "difference": 0})
        self.assertEqual(doc["discount"], {"actual": 2400, "simulated": 2400, "difference": 0})
        self.assertEqual(doc["by_tier"], [group("tier", "basic", 5, 0, 0),
                                          group("tier", "silver", 2, 0, 0)])
        self.assertEqual(doc["by_store"], [group("store_id", "S1", 4, 0, 0),
                                           group("store_id", "S2", 3, 0, 0)])
        self.assertEqual(doc["top_members"], [])

    def test_window_is_half_open(self):
        # from = p0's moment is inside, to = p8's moment is outside.
        doc = self.ok(self.r0, frm=self.t["p0"], to=self.t["p8"])
        self.assertEqual(doc["purchases"], 8)
        self.assertEqual(doc["points"], {"actual": 1029, "simulated": 1029, "difference": 0})
        doc = self.ok(self.r0, frm=self.t["p8"],
                      to=self.t["p8"] + datetime.timedelta(microseconds=1))
        self.assertEqual(doc["purchases"], 1)
        doc = self.ok(self.r0, frm=self.t["p8"] + datetime.timedelta(microseconds=1),
                      to=self.t["p8"] + datetime.timedelta(days=366))
        self.assertEqual(doc["purchases"], 0)
        self.assertEqual(doc["points"], {"actual": 0, "simulated": 0, "difference": 0})
        self.assertEqual((doc["by_tier"], doc["by_store"], doc["top_members"]), ([], [], []))

    # ------------------------------------------------------------ (b)

    def test_doubled_category_multiplier(self):
        draft = copy.deepcopy(self.r0)
        draft["earn"]["category_multipliers"]["fresh"] = 4
        doc = self.ok(draft)
        self.assertEqual(doc["purchases"], 7)
        self.assertEqual(doc["refused"], 0)
        # +20 +60 +0 +0 +360 +124 +70
        self.assertEqual(doc["points"], {"actual": 1009, "simulated": 1643, "difference": 634})
        self.assertEqual(doc["discount"], {"actual": 2400, "simulated": 2400, "difference": 0})
        self.assertEqual(doc["by_tier"], [group("tier", "basic", 5, 150, 0),
                                          group("tier", "silver", 2, 484, 0)])
        self.assertEqual(doc["by_store"], [group("store_id", "S1", 4, 504, 0),
                                           group("store_id", "S2", 3, 130, 0)])
        self.assertEqual(doc["top_members"], [group("member_id", self.c["id"], 3, 484, 0),
                                              group("member_id", self.a["id"], 2, 80, 0),
                                              group("member_id", self.b["id"], 2, 70, 0)])

    def test_discount_and_refused(self):
        draft = copy.deepcopy(self.r0)
        draft["tiers"][1]["discount_pct"] = 20
        draft["redemption"]["max_bill_pct"] = 10
        doc = self.ok(draft)
        # p5: 20% off (2000 + 1000): 320 + 80 + 7 = 407, 50 fewer points,
        # 1500 more discount.  p6: 500 redeemed is more than 10% of 3200:
        # refused, counted as recorded.
        self.assertEqual(doc["purchases"], 7)
        self.assertEqual(doc["refused"], 1)
        self.assertEqual(doc["points"], {"actual": 1009, "simulated": 959, "difference": -50})
        self.assertEqual(doc["discount"], {"actual": 2400, "simulated": 3900, "difference": 1500})
        self.assertEqual(doc["by_tier"], [group("tier", "basic", 5, 0, 0),
                                          group("tier", "silver", 2, -50, 1500)])
        self.assertEqual(doc["by_store"], [group("store_id", "S1", 4, -50, 1500),
                                           group("store_id", "S2", 3, 0, 0)])
        self.assertEqual(doc["top_members"], [group("member_id", self.c["id"], 3, -50, 1500)])

    def test_tiers_the_draft_does_not_know_come_last(self):
        draft = copy.deepcopy(self.r0)
        draft["tiers"][1]["code"] = "argent"
        doc = self.ok(draft)
        # Purchases computed as silver are computed at the draft's first tier.
        # p5: no discount, 200 + 50 + 7 = 257 (-200, -1500 discount); p6: 3500 -> 70
        # + 7 = 77 (-54, -400 discount).
        self.assertEqual(doc["by_tier"], [group("tier", "basic", 5, 0, 0),
                                          group("tier", "silver", 2, -254, -1900)])

    def test_idempotency_key_replays(self):
        draft = copy.deepcopy(self.r0)
        draft["earn"]["category_multipliers"]["fresh"] = 4
        body = {"rules": draft, "from": iso(self.t["from"]), "to": iso(self.t["to"])}
        key = {"Idempotency-Key": "sim-" + secrets.token_hex(6)}
        first = self.req("POST", PATH, body, headers=key)
        again = self.req("POST", PATH, body, headers=key)
        self.assertEqual((first.status, again.status), (200, 200))
        self.assertEqual(first.body, again.body)

    # ------------------------------------------------------------ (c) and (d)

    def test_invalid_draft(self):
        draft = copy.deepcopy(self.r0)
        draft["tiers"][0]["min_spend"] = -1
        draft["bogus"] = True
        doc = assert_problem(self, self.simulate(draft), 400, "validation_failed")
        self.assertEqual(sorted(error_fields(doc)), ["rules.bogus", "rules.tiers[0].min_spend"])
        # The time zone is checked with PostgreSQL, as PUT /v1/rules does.
        draft = copy.deepcopy(self.r0)
        draft["timezone"] = "Mars/Olympus_Mons"
        doc = assert_problem(self, self.simulate(draft), 400, "validation_failed")
        self.assertEqual(error_fields(doc), ["rules.timezone"])
        doc = assert_problem(self, self.simulate([1, 2]), 400, "validation_failed")
        self.assertEqual(error_fields(doc), ["rules"])

    def test_invalid_body(self):
        good = {"rules": self.r0, "from": iso(self.t["from"]), "to": iso(self.t["to"])}
        cases = [
            ({"from": iso(self.t["to"])}, ["to"]),                  # from == to
            ({"from": iso(self.t["p8"])}, ["to"]),                  # from > to
            ({"from": iso(self.t["to"] - datetime.timedelta(days=366, microseconds=1))}, ["to"]),
            ({"from": "2026-11-22 10:00:00+08:00"}, ["from"]),      # not RFC 3339
            ({"to": "2026-11-22T10:00:00"}, ["to"]),                # no offset
            ({"from": 5}, ["from"]),
            ({"extra": 1}, ["extra"]),
        ]
        for change, fields in cases:
            with self.subTest(change=change):
                body = dict(good)
                body.update(change)
                doc = assert_problem(self, self.req("POST", PATH, body), 400, "validation_failed")
                self.assertEqual(error_fields(doc), fields)
        for missing in ("rules", "from", "to"):
            with self.subTest(missing=missing):
                body = {k: v for k, v in good.items() if k != missing}
                doc = assert_problem(self, self.req("POST", PATH, body), 400, "validation_failed")
                self.assertEqual(error_fields(doc), [missing])
        # Exactly 366 days is allowed.
        self.ok(self.r0, frm=self.t["to"] - datetime.timedelta(days=366))
        # Every error at once: the window's and the draft's.
        draft = copy.deepcopy(self.r0)
        draft["pending_days"] = -3
        doc = assert_problem(self, self.simulate(draft, frm=self.t["to"]), 400,
                             "validation_failed")
        self.assertEqual(error_fields(doc), ["to", "rules.pending_days"])

    # ------------------------------------------------------------ (e)

    def test_only_admin(self):
        for role in ("pos", "app"):
            with self.subTest(role=role):
                key = make_key(self.daemon, role)["key"]
                assert_problem(self, self.simulate(self.r0, token=key), 403, "forbidden")
        tok = member_token(self.daemon, self.a["id"])["token"]
        assert_problem(self, self.simulate(self.r0, token=tok), 403, "forbidden")
        assert_problem(self, self.simulate(self.r0, token=None), 401, "unauthorized")
        r = self.req("GET", PATH)
        self.assertEqual(r.status, 405, r)

    # ------------------------------------------------------------ (f)

    def test_writes_nothing(self):
        draft = copy.deepcopy(self.r0)
        draft["earn"]["category_multipliers"]["fresh"] = 4
        before = self.fingerprint()
        self.ok(self.r0)
        self.ok(draft)
        assert_problem(self, self.simulate(draft, frm=self.t["to"]), 400, "validation_failed")
        self.assertEqual(self.fingerprint(), before)
        # The active rules are still R0.
        r = self.req("GET", "/v1/rules")
        self.assertEqual(r.json()["rules"], self.r0)


if __name__ == "__main__":
    harness.main()
