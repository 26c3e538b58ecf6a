"""Purchases: exact points and amounts, replays by POS id and Idempotency-Key,
races, quotes, part payment with points, coupons, member states, validation,
reading purchases back, and the /metrics counters.

After every test the ledger invariant holds (`loyaltyd check` exits 0)."""

import datetime
import json
import re
import secrets
import threading

import harness
from harness import (DaemonTestCase, assert_problem, enroll, error_fields, make_key,
                     member_token, poll_until, q, unique_card)

SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))


def when(delta_s=-60):
    """An occurred_at `delta_s` seconds from now, written with the +08:00 offset."""
    t = datetime.datetime.now(SHANGHAI) + datetime.timedelta(seconds=delta_s)
    return t.replace(microsecond=0).isoformat()


def pos_id():
    return "T-" + secrets.token_hex(8)


def item(sku, category, quantity, unit_price):
    return {"sku": sku, "category": category, "quantity": quantity, "unit_price": unit_price}


class PurchaseCase(DaemonTestCase):
    """Helpers shared by the purchase test classes."""

    def setUp(self):
        super().setUp()
        self.addCleanup(self.assert_ledger_invariant)

    def member(self, **fields):
        return enroll(self.daemon, **fields)

    def body(self, member, items, store="S001", **extra):
        b = {"store_id": store, "terminal_id": "T01", "pos_transaction_id": pos_id(),
             "member_id": member["id"], "occurred_at": when(), "items": items}
        b.update(extra)
        return b

    def post(self, body, token=harness.ADMIN, headers=None, path="/v1/purchases"):
        return self.req("POST", path, body, token=token, headers=headers)

    def purchase(self, member, items, **extra):
        r = self.post(self.body(member, items, **extra))
        self.assertEqual(r.status, 201, r)
        return r.json()

    def count(self, table, where="true"):
        return int(self.psql("SELECT count(*) FROM %s WHERE %s;" % (table, where)).strip())

    def member_id_num(self, member):
        return int(member["id"].rpartition("_")[2])


class PurchaseTest(PurchaseCase):
    """Under the default rule set: 1 point per 100 minor units, tobacco and
    gift_card excluded, fresh x2, tiers basic/silver(200000, 2%, x1.25)/
    gold(1000000, 5%, x1.5), no promotions, redemption 100 points = 100 minor
    units, at most 50% of the bill."""

    RESULT_KEYS = ["id", "member_id", "store_id", "pos_transaction_id", "occurred_at", "subtotal",
                   "discount_total", "redeemed_value", "total_due", "points_earned",
                   "points_redeemed", "balance_after", "tier_before", "tier_after",
                   "rules_version", "lines", "applied"]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        r = cls.daemon.request("GET", "/v1/rules")
        assert r.status == 200, r
        doc = r.json()
        cls.rules_version = doc["version"]
        rules = doc["rules"]
        # The numbers below are those of the default document; say so if it moved.
        assert rules["earn"]["points_per_unit"] == 1 and rules["earn"]["unit"] == 100, rules
        assert sorted(rules["earn"]["excluded_categories"]) == ["gift_card", "tobacco"], rules
        assert rules["earn"]["category_multipliers"] == {"fresh": 2}, rules
        assert rules["promotions"] == [], rules

    # ------------------------------------------------------------- numbers

    def test_points_and_amounts(self):
        m = self.member()
        items = [item("A1", "fresh", 2, 1250),     # 2500 -> 25 x2 = 50
                 item("CIG", "tobacco", 1, 3000),  # excluded: 0
                 item("B7", "dry", 3, 999),        # 2997 -> 29.97
                 item("GC", "gift_card", 1, 10000),  # excluded: 0
                 item("Z", "dry", 1, 0)]           # free: 0
        b = self.body(m, items)
        r = self.post(b)
        self.assertEqual(r.status, 201, r)
        self.assertTrue(r.headers.get("Content-Type", "").startswith("application/json"))
        p = r.json()
        self.assertEqual(list(p.keys()), self.RESULT_KEYS)
        self.assertRegex(p["id"], r"^pur_\d+$")
        self.assertEqual(p["member_id"], m["id"])
        self.assertEqual(p["store_id"], "S001")
        self.assertEqual(p["pos_transaction_id"], b["pos_transaction_id"])
        self.assertEqual(harness.parse_time(p["occurred_at"]), harness.parse_time(b["occurred_at"]))
        self.assertEqual(p["subtotal"], 2500 + 3000 + 2997 + 10000)
        self.assertEqual(p["discount_total"], 0)
        self.assertEqual(p["redeemed_value"], 0)
        self.assertEqual(p["total_due"], p["subtotal"])
        self.assertEqual(p["points_earned"], 79)  # floor(50 + 29.97)
        self.assertEqual(p["points_redeemed"], 0)
        self.assertEqual(p["balance_after"], 79)
        self.assertEqual((p["tier_before"], p["tier_after"]), ("basic", "basic"))
        self.assertEqual(p["rules_version"], self.rules_version)
        self.assertEqual([(l["sku"], l["category"], l["quantity"], l["unit_price"], l["amount"],
                           l["discount"], l["points"]) for l in p["lines"]],
                         [("A1", "fresh", 2, 1250, 2500, 0, 50),
                          ("CIG", "tobacco", 1, 3000, 3000, 0, 0),
                          ("B7", "dry", 3, 999, 2997, 0, 29),
                          ("GC", "gift_card", 1, 10000, 10000, 0, 0),
                          ("Z", "dry", 1, 0, 0, 0, 0)])
        self.assertEqual(sum(l["points"] for l in p["lines"]), p["points_earned"])
        for a in p["applied"]:
            self.assertTrue({"rule", "kind", "detail"} <= set(a), a)
        self.assertIn("category:fresh", [a["rule"] for a in p["applied"]])
        # the ledger and the member agree
        entries = self.ledger(m)
        self.assertEqual([(e["kind"], e["points"], e["balance_after"], e.get("purchase_id"))
                          for e in entries], [("earn", 79, 79, p["id"])])
        g = self.req("GET", "/v1/members/" + q(m["id"])).json()
        self.assertEqual(g["points_balance"], 79)
        # net spend: the non-excluded lines' cash
        self.assertEqual(self.balance(m)["qualifying_spend"], 2500 + 2997)
        self.assertEqual(self.psql("SELECT purchase_count, last_purchase_at = '%s'::timestamptz "
                                   "FROM members WHERE id = %d;"
                                   % (b["occurred_at"], self.member_id_num(m))).strip(), "1|t")

    def test_remainders_go_to_the_largest_fractions(self):
        m = self.member()
        # 1.50 + 1.50 + 1.99 = 4.99 -> 4: floors 1 + 1 + 1, the extra point to the .99 line
        p = self.purchase(m, [item("a", "dry", 1, 150), item("b", "dry", 1, 150),
                              item("c", "dry", 1, 199)])
        self.assertEqual([l["points"] for l in p["lines"]], [1, 1, 2])
        self.assertEqual(p["points_earned"], 4)
        # 0.5 + 0.5 = 1: ties go to the earlier line
        p = self.purchase(m, [item("a", "dry", 1, 50), item("b", "dry", 1, 50)])
        self.assertEqual([l["points"] for l in p["lines"]], [1, 0])

    def test_zero_points_writes_no_entry(self):
        m = self.member()
        p = self.purchase(m, [item("CIG", "tobacco", 2, 3000), item("x", "dry", 1, 99)])
        self.assertEqual(p["points_earned"], 0)
        self.assertEqual(p["balance_after"], 0)
        self.assertEqual(self.ledger(m), [])
        self.assertEqual(self.balance(m)["qualifying_spend"], 99)

    def test_tier_upgrade_applies_from_the_next_purchase(self):
        m = self.member()
        p1 = self.purchase(m, [item("tv", "electronics", 1, 250000)])
        self.assertEqual((p1["tier_before"], p1["tier_after"]), ("basic", "silver"))
        self.assertEqual(p1["discount_total"], 0)
        self.assertEqual(p1["points_earned"], 2500)
        self.assertEqual(self.req("GET", "/v1/members/" + q(m["id"])).json()["tier"], "silver")
        # silver: 2% off, x1.25 points; fresh x2 on top
        p2 = self.purchase(m, [item("d", "dry", 1, 10000), item("f", "fresh", 1, 1000),
                               item("CIG", "tobacco", 1, 5000)])
        self.assertEqual((p2["tier_before"], p2["tier_after"]), ("silver", "silver"))
        self.assertEqual([l["discount"] for l in p2["lines"]], [200, 20, 0])
        self.assertEqual(p2["discount_total"], 220)
        self.assertEqual(p2["total_due"], 16000 - 220)
        # 98 x 1.25 = 122.5 and 9.8 x 2 x 1.25 = 24.5: 147, the tie to the earlier line
        self.assertEqual([l["points"] for l in p2["lines"]], [123, 24, 0])
        self.assertEqual(p2["points_earned"], 147)
        self.assertEqual(p2["balance_after"], 2500 + 147)
        self.assertIn("tier:silver", [a["rule"] for a in p2["applied"]])
        bal = self.balance(m)
        spend = 250000 + 9800 + 980
        self.assertEqual(bal["tier"], "silver")
        self.assertEqual(bal["qualifying_spend"], spend)
        self.assertEqual(bal["next_tier"], {"code": "gold", "min_spend": 1000000,
                                            "spend_needed": 1000000 - spend})
        # Nothing more bought: the tier's spend holds through the day before the
        # first purchase leaves the 365-day window; the check 30 days after that
        # day drops it.
        day = harness.parse_time(p1["occurred_at"]).astimezone(SHANGHAI).date()
        self.assertEqual(bal["keep_tier"], {"spend_needed": 0, "by": (
            day + datetime.timedelta(days=365 + 30)).isoformat()})

    # ------------------------------------------------------------- replays

    def test_replay_same_pos_id(self):
        m = self.member()
        b = self.body(m, [item("A1", "fresh", 1, 1000)])
        r1 = self.post(b)
        self.assertEqual(r1.status, 201, r1)
        fp = self.fingerprint()
        for _ in range(2):
            r2 = self.post(b)
            self.assertEqual(r2.status, 200, r2)
            self.assertEqual(r2.body, r1.body)
        # the same request with its member given by card, another terminal, and
        # occurred_at written with another offset is still the same request
        same = dict(b, terminal_id="T99", occurred_at=harness.parse_time(b["occurred_at"])
                    .astimezone(datetime.timezone.utc).isoformat().replace("+00:00", "Z"))
        del same["member_id"]
        same["card_number"] = m["card_number"]
        r3 = self.post(same)
        self.assertEqual(r3.status, 200, r3)
        self.assertEqual(r3.body, r1.body)
        self.assertEqual(self.fingerprint(), fp, "a replay changed the database")
        self.assertEqual(len(self.ledger(m)), 1)
        self.assertEqual(self.balance(m)["points_balance"], 20)

    def test_replay_with_other_content_is_a_conflict(self):
        m = self.member()
        b = self.body(m, [item("A1", "fresh", 1, 1000)])
        r1 = self.post(b)
        self.assertEqual(r1.status, 201, r1)
        pid = r1.json()["id"]
        other = enroll(self.daemon)
        fp = self.fingerprint()
        for change in ({"items": [item("A1", "fresh", 2, 1000)]},
                       {"items": [item("A1", "dry", 1, 1000)]},
                       {"redeem_points": 1},
                       {"occurred_at": when(-120)},
                       {"coupon_code": "AAAA-BBBB-CCCCC"},
                       {"member_id": other["id"]}):
            with self.subTest(change=change):
                r = self.post(dict(b, **change))
                doc = assert_problem(self, r, 409, "conflict")
                self.assertIn(pid, doc["detail"])
                self.assertEqual(self.fingerprint(), fp)
        # the same POS id at another store is another transaction
        r = self.post(dict(b, store_id="S002"))
        self.assertEqual(r.status, 201, r)

    def test_replay_answers_before_state_checks(self):
        m = self.member()
        b = self.body(m, [item("A1", "dry", 1, 5000)])
        r1 = self.post(b)
        self.assertEqual(r1.status, 201, r1)
        r = self.req("PATCH", "/v1/members/" + q(m["id"]), {"status": "suspended"})
        self.assertEqual(r.status, 200, r)
        r2 = self.post(b)
        self.assertEqual((r2.status, r2.body), (200, r1.body))
        r3 = self.post(dict(b, pos_transaction_id=pos_id()))
        assert_problem(self, r3, 409, "member_inactive")

    def test_idempotency_key(self):
        m = self.member()
        key = "idem-" + secrets.token_hex(8)
        b = self.body(m, [item("A1", "dry", 1, 5000)])
        r1 = self.post(b, headers={"Idempotency-Key": key})
        self.assertEqual(r1.status, 201, r1)
        fp = self.fingerprint()
        r2 = self.post(b, headers={"Idempotency-Key": key})
        self.assertEqual((r2.status, r2.body), (201, r1.body))
        r3 = self.post(dict(b, pos_transaction_id=pos_id()), headers={"Idempotency-Key": key})
        assert_problem(self, r3, 422, "idempotency_key_reused")
        self.assertEqual(self.fingerprint(), fp)
        # a new key for a recorded POS id: the POS replay, stored under the new key
        k2 = "idem-" + secrets.token_hex(8)
        r4 = self.post(b, headers={"Idempotency-Key": k2})
        self.assertEqual((r4.status, r4.body), (200, r1.body))
        r5 = self.post(b, headers={"Idempotency-Key": k2})
        self.assertEqual((r5.status, r5.body), (200, r1.body))
        self.assertEqual(self.count("purchases", "member_id = %d" % self.member_id_num(m)), 1)
        self.assertEqual(len(self.ledger(m)), 1)

    def race(self, bodies):
        """Posts bodies[i] from thread i, all released at once; returns the responses."""
        out = [None] * len(bodies)
        gate = threading.Barrier(len(bodies))

        def run(i):
            gate.wait()
            out[i] = self.post(bodies[i])

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(bodies))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        return out

    def test_racing_replays_write_once(self):
        m = self.member()
        b = self.body(m, [item("A1", "fresh", 3, 1999), item("B", "dry", 1, 777)])
        rs = self.race([b] * 20)
        statuses = sorted(r.status for r in rs)
        self.assertEqual(statuses, [200] * 19 + [201], rs)
        first = [r for r in rs if r.status == 201][0]
        for r in rs:
            self.assertEqual(r.body, first.body)
        self.assertEqual(self.count("purchases", "member_id = %d" % self.member_id_num(m)), 1)
        self.assertEqual(self.count("pos_transactions", "pos_transaction_id = '%s'"
                                    % b["pos_transaction_id"]), 1)
        p = first.json()
        self.assertEqual(len(self.ledger(m)), 1)
        self.assertEqual(self.balance(m)["points_balance"], p["points_earned"])

    def test_racing_members_on_one_pos_id(self):
        members = [self.member() for _ in range(4)]
        pid = pos_id()
        bodies = [dict(self.body(mm, [item("A1", "dry", 1, 1000)]), pos_transaction_id=pid)
                  for mm in members]
        rs = self.race(bodies)
        self.assertEqual(sorted(r.status for r in rs), [201, 409, 409, 409], rs)
        won = [r for r in rs if r.status == 201][0].json()
        for r in rs:
            if r.status == 409:
                self.assertIn(won["id"], assert_problem(self, r, 409, "conflict")["detail"])
        self.assertEqual(self.count("purchases", "pos_transaction_id = '%s'" % pid), 1)
        self.assertEqual(sum(self.balance(mm)["points_balance"] for mm in members), 10)

    def test_concurrent_purchases_of_one_member(self):
        m = self.member()
        bodies = [self.body(m, [item("x", "dry", 1, 100000)]) for _ in range(8)]
        rs = self.race(bodies)
        self.assertEqual([r.status for r in rs], [201] * 8, rs)
        # each saw the ones before it: balances 1000, 2000, ... and the
        # purchase that crossed 200000 net spend (the second) upgraded the tier
        after = sorted(r.json()["balance_after"] for r in rs)
        tiers = sorted((r.json()["balance_after"], r.json()["tier_before"], r.json()["tier_after"])
                       for r in rs)
        self.assertEqual(after[:2], [1000, 2000])
        self.assertEqual(tiers[1][1:], ("basic", "silver"))
        self.assertTrue(all(t[1:] == ("silver", "silver") for t in tiers[2:]), tiers)
        self.assertEqual(self.balance(m)["points_balance"], after[-1])
        self.assertEqual(self.psql("SELECT purchase_count FROM members WHERE id = %d;"
                                   % self.member_id_num(m)).strip(), "8")

    # --------------------------------------------------------------- quotes

    def test_quote_writes_nothing_and_matches_the_purchase(self):
        m = self.member()
        self.purchase(m, [item("big", "dry", 1, 300000)])  # silver, 3000 points
        b = self.body(m, [item("A1", "fresh", 3, 1299), item("B", "dry", 2, 4550),
                          item("CIG", "tobacco", 1, 2000)], redeem_points=1000)
        fp = self.fingerprint()
        q1 = self.post(b, path="/v1/purchases/quote")
        self.assertEqual(q1.status, 200, q1)
        quote = q1.json()
        self.assertEqual(self.fingerprint(), fp, "a quote wrote something")
        self.assertNotIn("id", quote)
        self.assertNotIn("balance_after", quote)
        r = self.post(b)
        self.assertEqual(r.status, 201, r)
        p = r.json()
        self.assertEqual({k: v for k, v in p.items() if k not in ("id", "balance_after")}, quote)
        self.assertEqual(p["balance_after"], 3000 - 1000 + p["points_earned"])
        # a quote of a recorded POS id still computes (it replays nothing)
        q2 = self.post(b, path="/v1/purchases/quote")
        self.assertEqual(q2.status, 200, q2)

    def test_quote_checks(self):
        m = self.member()
        b = self.body(m, [item("A1", "dry", 1, 1000)])
        r = self.post(dict(b, redeem_points=1), path="/v1/purchases/quote")
        assert_problem(self, r, 409, "insufficient_points")
        r = self.post(dict(b, items=[]), path="/v1/purchases/quote")
        self.assertEqual(error_fields(assert_problem(self, r, 400, "validation_failed")),
                         ["items"])
        r = self.post(dict(b, member_id=harness.absent_id_like(m["id"])),
                      path="/v1/purchases/quote")
        assert_problem(self, r, 404, "not_found")

    # ------------------------------------------------------- part payment

    def test_redeem_points_part_payment(self):
        m = self.member()
        self.purchase(m, [item("big", "dry", 1, 150000)])  # 1500 points, still basic
        b = self.body(m, [item("a", "dry", 1, 3000), item("b", "fresh", 1, 1000),
                          item("CIG", "tobacco", 1, 5000)], redeem_points=1000)
        r = self.post(b)
        self.assertEqual(r.status, 201, r)
        p = r.json()
        # 1000 points = 1000 minor units, shared 3:1 over the non-excluded lines
        self.assertEqual(p["redeemed_value"], 1000)
        self.assertEqual(p["points_redeemed"], 1000)
        self.assertEqual(p["total_due"], 9000 - 1000)
        # points on what is left: (3000-750)/100 = 22.5, (1000-250)/100 x2 = 15
        self.assertEqual([l["points"] for l in p["lines"]], [22, 15, 0])
        self.assertEqual(p["points_earned"], 37)
        self.assertEqual(p["balance_after"], 1500 - 1000 + 37)
        entries = self.ledger(m)
        self.assertEqual([(e["kind"], e["points"], e["balance_after"]) for e in entries[:2]],
                         [("earn", 37, 537), ("redeem", -1000, 500)])
        self.assertEqual(self.balance(m)["points_balance"], 537)
        # net spend counts the cash only
        self.assertEqual(self.balance(m)["qualifying_spend"], 150000 + 3000 + 1000 - 1000)

    def test_insufficient_points_writes_nothing(self):
        m = self.member()
        self.purchase(m, [item("x", "dry", 1, 10000)])  # 100 points
        fp = self.fingerprint()
        r = self.post(self.body(m, [item("x", "dry", 1, 100000)], redeem_points=101))
        assert_problem(self, r, 409, "insufficient_points")
        self.assertEqual(self.fingerprint(), fp)
        # over the bill's limit (50% of 100 minor units) is a body error
        r = self.post(self.body(m, [item("x", "dry", 1, 100)], redeem_points=100))
        doc = assert_problem(self, r, 400, "validation_failed")
        self.assertIn("redeem_points", error_fields(doc))
        self.assertEqual(self.fingerprint(), fp)

    # ------------------------------------------------------------ coupons

    def reward(self, **fields):
        body = {"code": "r-" + secrets.token_hex(4), "name": "Reward", "points_cost": 100,
                "active": True}
        body.update(fields)
        r = self.req("POST", "/v1/rewards", body)
        self.assertEqual(r.status, 201, r)
        return r.json()

    def coupon(self, member, reward):
        r = self.req("POST", "/v1/members/%s/redemptions" % q(member["id"]),
                     {"reward_id": reward["id"]})
        self.assertEqual(r.status, 201, r)
        return r.json()

    def test_coupon(self):
        m = self.member()
        self.purchase(m, [item("x", "dry", 1, 100000)])  # 1000 points
        red = self.coupon(m, self.reward(kind="discount", discount_value=500))
        code = red["coupon_code"]
        b = self.body(m, [item("a", "dry", 1, 3000), item("b", "dry", 1, 1000),
                          item("CIG", "tobacco", 1, 2000)], coupon_code=code.lower())
        first = self.post(b)
        self.assertEqual(first.status, 201, first)
        p = first.json()
        # 500 off the non-excluded lines, shared 3:1
        self.assertEqual([l["discount"] for l in p["lines"]], [375, 125, 0])
        self.assertEqual(p["discount_total"], 500)
        self.assertEqual(p["total_due"], 6000 - 500)
        # 26.25 + 8.75 = 35: floors 26 + 8, the remaining point to the larger fraction
        self.assertEqual([l["points"] for l in p["lines"]], [26, 9, 0])
        self.assertEqual(p["points_earned"], 35)
        self.assertIn("coupon", [a["kind"] for a in p["applied"]])
        r = self.req("GET", "/v1/members/%s/redemptions" % q(m["id"]))
        self.assertEqual(r.json()["items"][0]["status"], "used")
        # used: a conflict; the replay of the first purchase still answers
        r2 = self.post(dict(b, pos_transaction_id=pos_id()))
        assert_problem(self, r2, 409, "conflict")
        self.assertEqual(self.post(b).body, first.body)
        # another member's coupon, an unknown code and a gift coupon are body errors
        other = self.member()
        self.purchase(other, [item("x", "dry", 1, 100000)])
        theirs = self.coupon(other, self.reward(kind="discount", discount_value=100))
        gift = self.coupon(m, self.reward(kind="gift"))
        for code, msg in ((theirs["coupon_code"], None), ("ZZZZ-ZZZZ-ZZZZZ", None),
                          ("not a code", None), (gift["coupon_code"], "not a discount coupon")):
            with self.subTest(code=code):
                r = self.post(self.body(m, [item("a", "dry", 1, 3000)], coupon_code=code))
                doc = assert_problem(self, r, 400, "validation_failed")
                self.assertEqual(error_fields(doc), ["coupon_code"])
                if msg:
                    self.assertIn(msg, doc["errors"][0]["message"])

    # ------------------------------------------------------- member state

    def test_member_states_and_unknown_members(self):
        m = self.member()
        b = self.body(m, [item("x", "dry", 1, 1000)])
        fp = self.fingerprint()
        for bad in ({"member_id": harness.absent_id_like(m["id"])},
                    {"member_id": "nonsense"},
                    {"member_id": None, "card_number": unique_card()}):
            with self.subTest(bad=bad):
                body = dict(b, **bad)
                if body.get("member_id") is None:
                    del body["member_id"]
                assert_problem(self, self.post(body), 404, "not_found")
        self.assertEqual(self.fingerprint(), fp)
        self.assertEqual(self.req("PATCH", "/v1/members/" + q(m["id"]),
                                  {"status": "suspended"}).status, 200)
        fp = self.fingerprint()
        assert_problem(self, self.post(b), 409, "member_inactive")
        self.assertEqual(self.fingerprint(), fp)
        self.assertEqual(self.req("DELETE", "/v1/members/" + q(m["id"])).status, 204)
        fp = self.fingerprint()
        assert_problem(self, self.post(b), 409, "member_inactive")
        self.assertEqual(self.fingerprint(), fp)

    def test_by_card_number(self):
        m = self.member()
        b = self.body(m, [item("x", "dry", 1, 1000)])
        del b["member_id"]
        b["card_number"] = m["card_number"]
        r = self.post(b)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["member_id"], m["id"])

    def test_occurred_at_bounds(self):
        m = self.member()
        r = self.post(self.body(m, [item("x", "dry", 1, 1000)], occurred_at=when(-2 * 86400)))
        doc = assert_problem(self, r, 400, "validation_failed")
        self.assertEqual(error_fields(doc), ["occurred_at"])
        r = self.post(self.body(m, [item("x", "dry", 1, 1000)], occurred_at=when(-23 * 3600)))
        self.assertEqual(r.status, 201, r)
        r = self.post(self.body(m, [item("x", "dry", 1, 1000)], occurred_at=when(240)))
        self.assertEqual(r.status, 201, r)
        r = self.post(self.body(m, [item("x", "dry", 1, 1000)], occurred_at=when(400)))
        self.assertEqual(error_fields(assert_problem(self, r, 400, "validation_failed")),
                         ["occurred_at"])

    # ---------------------------------------------------------- validation

    def test_validation_names_every_field(self):
        m = self.member()
        fp = self.fingerprint()
        cases = [
            ({"colour": "red"}, ["colour"]),
            ({"card_number": m["card_number"]}, ["card_number"]),
            ({"store_id": "S 1"}, ["store_id"]),
            ({"terminal_id": ""}, ["terminal_id"]),
            ({"pos_transaction_id": "a/b"}, ["pos_transaction_id"]),
            ({"pos_transaction_id": "x" * 65}, ["pos_transaction_id"]),
            ({"occurred_at": "2026-11-22 10:15:00"}, ["occurred_at"]),
            ({"occurred_at": "2026-11-22T10:15:00"}, ["occurred_at"]),
            ({"occurred_at": "2026-02-30T10:15:00+08:00"}, ["occurred_at"]),
            ({"items": []}, ["items"]),
            ({"items": [item("x", "dry", 1, 1)] * 501}, ["items"]),
            ({"items": "x"}, ["items"]),
            ({"items": [item("x", "dry", 1, 1), item("y", "dry", 0, 1),
                        item("", "d", 1, -1), dict(item("z", "c" * 33, 100001, 10 ** 11 + 1),
                                                    colour=1), 7]},
             ["items[1].quantity", "items[2].sku", "items[2].unit_price", "items[3].colour",
              "items[3].category", "items[3].quantity", "items[3].unit_price", "items[4]"]),
            ({"items": [{"sku": "x"}]},
             ["items[0].category", "items[0].quantity", "items[0].unit_price"]),
            ({"items": [item("x", "dry", 1.0, 1)]}, ["items[0].quantity"]),
            ({"redeem_points": -1}, ["redeem_points"]),
            ({"redeem_points": 10 ** 12 + 1}, ["redeem_points"]),
            ({"coupon_code": 5}, ["coupon_code"]),
        ]
        for change, fields in cases:
            with self.subTest(change=str(change)[:80]):
                r = self.post(dict(self.body(m, [item("x", "dry", 1, 1)]), **change))
                doc = assert_problem(self, r, 400, "validation_failed")
                self.assertEqual(sorted(error_fields(doc)), sorted(fields), doc)
        for missing in ("store_id", "terminal_id", "pos_transaction_id", "occurred_at", "items",
                        "member_id"):
            with self.subTest(missing=missing):
                b = self.body(m, [item("x", "dry", 1, 1)])
                del b[missing]
                doc = assert_problem(self, self.post(b), 400, "validation_failed")
                self.assertEqual(error_fields(doc), [missing])
        r = self.req("POST", "/v1/purchases", raw=b"[1]")
        assert_problem(self, r, 400, "validation_failed")
        self.assertEqual(self.fingerprint(), fp)

    # -------------------------------------------------------------- access

    def test_roles_and_store_binding(self):
        m = self.member()
        pos = make_key(self.daemon, "pos", store_id="S001")["key"]
        app = make_key(self.daemon, "app")["key"]
        free_pos = make_key(self.daemon, "pos")["key"]
        r = self.post(self.body(m, [item("x", "dry", 1, 1000)]), token=pos)
        self.assertEqual(r.status, 201, r)
        pid = r.json()["id"]
        assert_problem(self, self.post(self.body(m, [item("x", "dry", 1, 1000)], store="S002"),
                                       token=pos), 403, "forbidden")
        r2 = self.post(self.body(m, [item("x", "dry", 1, 1000)], store="S002"), token=free_pos)
        self.assertEqual(r2.status, 201, r2)
        assert_problem(self, self.req("GET", "/v1/purchases/" + q(r2.json()["id"]), token=pos),
                       403, "forbidden")
        self.assertEqual(self.req("GET", "/v1/purchases/" + q(pid), token=pos).status, 200)
        assert_problem(self, self.post(self.body(m, [item("x", "dry", 1, 1000)]), token=app),
                       403, "forbidden")
        assert_problem(self, self.post(self.body(m, [item("x", "dry", 1, 1000)]),
                                       path="/v1/purchases/quote", token=app), 403, "forbidden")
        tok = member_token(self.daemon, m["id"])["token"]
        assert_problem(self, self.post(self.body(m, [item("x", "dry", 1, 1000)]), token=tok),
                       403, "forbidden")
        r = self.req("GET", "/v1/members/%s/purchases" % q(m["id"]), token=app)
        self.assertEqual(r.status, 200, r)
        assert_problem(self, self.req("GET", "/v1/purchases/" + q(pid), token=app),
                       403, "forbidden")
        assert_problem(self, self.post(self.body(m, [item("x", "dry", 1, 1)]), token=None),
                       401, "unauthorized")

    # ------------------------------------------------------------- reading

    def test_get_purchase_and_list(self):
        m = self.member()
        posted = []
        for i in range(5):
            r = self.post(self.body(m, [item("x%d" % i, "dry", 1, 1000 * (i + 1))]))
            self.assertEqual(r.status, 201, r)
            posted.append(r)
        g = self.req("GET", "/v1/purchases/" + q(posted[2].json()["id"]))
        self.assertEqual((g.status, g.body), (200, posted[2].body))
        assert_problem(self, self.req("GET", "/v1/purchases/" + harness.absent_id_like(
            posted[0].json()["id"])), 404, "not_found")
        assert_problem(self, self.req("GET", "/v1/purchases/mem_1"), 404, "not_found")
        seen, cursor = [], None
        while True:
            r = self.req("GET", "/v1/members/%s/purchases?limit=2%s"
                         % (q(m["id"]), "&cursor=" + q(cursor) if cursor else ""))
            self.assertEqual(r.status, 200, r)
            doc = r.json()
            self.assertLessEqual(len(doc["items"]), 2)
            seen += doc["items"]
            cursor = doc["next_cursor"]
            if cursor is None:
                break
        self.assertEqual([s["id"] for s in seen], [p.json()["id"] for p in reversed(posted)])
        s = seen[0]
        p = posted[-1].json()
        for k in ("member_id", "store_id", "pos_transaction_id", "occurred_at", "subtotal",
                  "discount_total", "redeemed_value", "total_due", "points_earned",
                  "points_redeemed", "tier_after", "rules_version"):
            self.assertEqual(s[k], p[k], k)
        self.assertEqual(s["terminal_id"], "T01")
        harness.parse_time(s["created_at"])
        for bad in ("limit=0", "limit=501", "limit=x", "cursor=led_1", "cursor=abc"):
            with self.subTest(bad=bad):
                r = self.req("GET", "/v1/members/%s/purchases?%s" % (q(m["id"]), bad))
                assert_problem(self, r, 400, "validation_failed")
        assert_problem(self, self.req("GET", "/v1/members/%s/purchases"
                                      % harness.absent_id_like(m["id"])), 404, "not_found")
        empty = self.member()
        r = self.req("GET", "/v1/members/%s/purchases" % q(empty["id"]))
        self.assertEqual(r.json(), {"items": [], "next_cursor": None})

    def test_metrics_count_purchases(self):
        def counters():
            text = self.req("GET", "/metrics", token=None).text
            return {k: int(v) for k, v in re.findall(
                r"^(loyalty_(?:purchases|points_earned|points_redeemed)_total) (\d+)$", text,
                re.M)}

        before = counters()
        self.assertEqual(len(before), 3, before)
        m = self.member()
        self.purchase(m, [item("x", "dry", 1, 100000)])
        b = self.body(m, [item("y", "dry", 1, 10000)], redeem_points=300)
        self.assertEqual(self.post(b).status, 201)
        self.assertEqual(self.post(b).status, 200)  # a replay counts nothing
        # the count happens when the response has gone out: poll for it
        want = {"loyalty_purchases_total": before["loyalty_purchases_total"] + 2,
                "loyalty_points_earned_total": before["loyalty_points_earned_total"] + 1000 + 97,
                "loyalty_points_redeemed_total": before["loyalty_points_redeemed_total"] + 300}
        got, _ = poll_until(lambda: counters() == want, 5)
        self.assertEqual(counters(), want)


class PromotionTest(PurchaseCase):
    """A rule set of its own (PUT /v1/rules): a promotion with a discount, a
    multiplier on fresh and bonus points, and a birthday multiplier."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        rules = cls.daemon.request("GET", "/v1/rules").json()["rules"]
        now = datetime.datetime.now(SHANGHAI)
        rules["promotions"] = [{
            "code": "fresh-week", "multiplier": 3, "bonus_points": 100, "discount_pct": 10,
            "starts_at": (now - datetime.timedelta(days=1)).replace(microsecond=0).isoformat(),
            "ends_at": (now + datetime.timedelta(days=1)).replace(microsecond=0).isoformat(),
            "when": {"all": [{"fact": "purchase.subtotal", "op": ">=", "value": 10000}]},
            "categories": ["fresh"]}]
        rules["birthday"] = {"window": "day", "multiplier": 2, "bonus_points": 500}
        r = cls.daemon.request("PUT", "/v1/rules", rules)
        assert r.status == 200, r
        cls.version = r.json()["version"]
        # The cache follows the new version within a second: wait for it.
        m = enroll(cls.daemon)
        body = {"store_id": "S001", "terminal_id": "T", "pos_transaction_id": "x",
                "member_id": m["id"], "occurred_at": when(), "items": [item("a", "dry", 1, 1)]}

        def current():
            r = cls.daemon.request("POST", "/v1/purchases/quote", body)
            return r.status == 200 and r.json()["rules_version"] == cls.version
        ok, _ = poll_until(current, 10)
        assert ok, "the rules cache never showed version %d" % cls.version

    def test_promotion_fires(self):
        m = self.member()
        b = self.body(m, [item("f", "fresh", 1, 8000), item("d", "dry", 1, 4000),
                          item("CIG", "tobacco", 1, 1000)])
        r = self.post(b)
        self.assertEqual(r.status, 201, r)
        p = r.json()
        self.assertEqual(p["rules_version"], self.version)
        # 10% off the lines of the promotion's categories
        self.assertEqual([l["discount"] for l in p["lines"]], [800, 0, 0])
        self.assertEqual(p["discount_total"], 800)
        self.assertEqual(p["total_due"], 13000 - 800)
        # fresh 72 x 2 (category) x 3 (promotion) = 432; dry 40
        self.assertEqual([l["points"] for l in p["lines"]], [432, 40, 0])
        self.assertEqual(p["points_earned"], 432 + 40 + 100)
        self.assertEqual(p["balance_after"], 572)
        self.assertIn("promotion:fresh-week", [a["rule"] for a in p["applied"]])
        entries = self.ledger(m)
        self.assertEqual([(e["kind"], e["points"], e["balance_after"]) for e in entries],
                         [("bonus", 100, 572), ("earn", 472, 472)])
        self.assertIn("fresh-week", entries[0]["reason"])
        self.assertEqual({e["purchase_id"] for e in entries}, {p["id"]})
        # under 10000 the promotion does not fire
        p2 = self.purchase(m, [item("f", "fresh", 1, 5000)])
        self.assertEqual((p2["discount_total"], p2["points_earned"]), (0, 100))

    def test_birthday_day(self):
        today = datetime.datetime.now(SHANGHAI).date()
        bday = today.replace(year=1990) if (today.month, today.day) != (2, 29) else None
        if bday is None:
            self.skipTest("29 February")
        m = self.member(birthday=bday.isoformat())
        p = self.purchase(m, [item("d", "dry", 1, 5000)], occurred_at=when(-1))
        self.assertEqual(p["points_earned"], 100)  # 50 x 2
        self.assertIn("birthday", [a["rule"] for a in p["applied"]])


class PosClaimLostTest(PurchaseCase):
    """Both purchases below wait in the database at once: each worker gets
    two connections of its own, so the second never queues behind the first
    for a connection."""

    daemon_args = ("--pool-size", "4")

    def test_pos_id_lost_at_the_claim(self):
        """B's purchase reads its context before A's claim of the same POS id
        commits, so it learns of A's only at its own claim: it answers 409
        naming A's purchase and writes nothing.  Made deterministic with a
        lock: A (redeeming) waits in its ledger posting for its point lots,
        locked from psql, after its claim; B then waits at the claim for A.
        Neither sends an Idempotency-Key, so each commits in the round trip
        of its writes."""
        a, b = self.member(), self.member()
        self.purchase(a, [item("x", "dry", 1, 100000)])  # 1000 points
        pid = pos_id()
        body_a = dict(self.body(a, [item("A1", "dry", 1, 1000)], redeem_points=100),
                      pos_transaction_id=pid)
        body_b = dict(self.body(b, [item("B1", "dry", 1, 2000)]), pos_transaction_id=pid)
        out = {}
        lock = harness.LockSession(self.cluster, self.db,
                                   "SELECT 'locked' FROM (SELECT 1 FROM point_lots WHERE "
                                   "member_id = %d FOR UPDATE) l;" % self.member_id_num(a))
        threads = []
        try:
            for name, body, waiters in (("a", body_a, 1), ("b", body_b, 2)):
                t = threading.Thread(target=lambda n=name, bd=body: out.__setitem__(
                    n, self.post(bd)))
                t.start()
                threads.append(t)
                waiting, _ = harness.poll_until(lambda w=waiters: self.lock_waiters() == w, 10.0)
                self.assertTrue(waiting, "purchase %s never waited" % name)
        finally:
            lock.release()
            for t in threads:
                t.join(30)
        self.assertEqual(out["a"].status, 201, out["a"])
        won = out["a"].json()
        self.assertEqual(won["points_redeemed"], 100)
        detail = assert_problem(self, out["b"], 409, "conflict")["detail"]
        self.assertIn(won["id"], detail)
        self.assertEqual(self.count("purchases", "pos_transaction_id = '%s'" % pid), 1)
        # A paid 900 of its 1000 after redeeming 100 points: 9 points earned.
        self.assertEqual(won["points_earned"], 9)
        self.assertEqual(self.balance(a)["points_balance"], 1000 - 100 + 9)
        self.assertEqual(self.balance(b)["points_balance"], 0)
        self.assertEqual(self.ledger(b), [])
        self.assertEqual(self.psql("SELECT purchase_count FROM members WHERE id = %d;"
                                   % self.member_id_num(b)).strip(), "0")

    def lock_waiters(self):
        return int(self.psql("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                             "current_database() AND wait_event_type = 'Lock';").strip())


if __name__ == "__main__":
    harness.main()
