"""Points over time that need no daily job: lot expiry dates, the order in
which spending takes points out of lots, pending points, the referral reward
and the tier history of upgrades.

Lots are read back with SQL where the API shows only their sums (the
balance view's `expiring`).  After every test the ledger and lot invariants
hold (`loyaltyd check` exits 0)."""

import datetime
import secrets
import threading

import harness
from harness import DaemonTestCase, assert_problem, enroll, make_key, q

SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))


def now_local(delta_s=-60):
    t = datetime.datetime.now(SHANGHAI) + datetime.timedelta(seconds=delta_s)
    return t.replace(microsecond=0).isoformat()


def dry(amount, sku="x"):
    return [{"sku": sku, "category": "dry", "quantity": 1, "unit_price": amount}]


class LotCase(DaemonTestCase):
    def setUp(self):
        super().setUp()
        self.addCleanup(self.assert_ledger_invariant)

    def member(self, backdate=True, **fields):
        m = enroll(self.daemon, **fields)
        if backdate:  # purchases may not predate enrolment by more than a day
            self.psql("UPDATE members SET enrolled_at = '2025-01-01T00:00:00Z' WHERE id = %d"
                      % int(m["id"][4:]))
        return m

    def buy(self, member, amount, occurred_at=None, status=201, **extra):
        body = {"store_id": "S001", "terminal_id": "T01",
                "pos_transaction_id": "L-" + secrets.token_hex(8), "member_id": member["id"],
                "occurred_at": occurred_at or now_local(), "items": dry(amount)}
        body.update(extra)
        r = self.req("POST", "/v1/purchases", body)
        self.assertEqual(r.status, status, r)
        return r

    def lots(self, member):
        """[(points, remaining, expires_on, available_on)] oldest first."""
        out = self.psql("SELECT points, remaining, expires_on, available_on FROM point_lots"
                        " WHERE member_id = %d ORDER BY entry_id" % int(member["id"][4:]))
        return [(int(a), int(b), c, d) for a, b, c, d in
                (line.split("|") for line in out.split("\n") if line)]

    def reward(self, cost):
        r = self.req("POST", "/v1/rewards", {"code": "r" + secrets.token_hex(6), "name": "Gift",
                                             "kind": "gift", "points_cost": cost, "active": True})
        self.assertEqual(r.status, 201, r)
        return r.json()

    def redeem(self, member, reward, status=201):
        r = self.req("POST", "/v1/members/%s/redemptions" % q(member["id"]),
                     {"reward_id": reward["id"]})
        self.assertEqual(r.status, status, r)
        return r


class ExpiryDates(LotCase):
    def test_end_of_the_month_twelve_months_on(self):
        m = self.member()
        self.buy(m, 10000, "2026-01-31T12:00:00+08:00")    # 100 points
        self.buy(m, 20000, "2026-01-31T23:30:00+08:00")    # same local day: 200
        self.buy(m, 30000, "2026-02-01T00:30:00+08:00")    # still Jan 31 in UTC: 300
        jan = "2027-01-31T16:00:00.000000Z"                  # 2027-02-01T00:00 Shanghai
        feb = "2027-02-28T16:00:00.000000Z"                  # 2027-03-01T00:00 Shanghai
        self.assertEqual([(e["points"], e["expires_at"]) for e in self.ledger(m)],
                         [(300, feb), (200, jan), (100, jan)])
        self.assertEqual(self.balance(m)["expiring"],
                         [{"points": 300, "expires_at": jan}, {"points": 300, "expires_at": feb}])
        self.assertEqual([l[2] for l in self.lots(m)], ["2027-01-31", "2027-01-31", "2027-02-28"])

    def test_at_most_three_dates(self):
        m = self.member()
        for month in (6, 3, 5, 4):
            self.buy(m, 100 * month, "2026-%02d-15T12:00:00+08:00" % month)
        self.assertEqual(self.balance(m)["expiring"],
                         [{"points": 3, "expires_at": "2027-03-31T16:00:00.000000Z"},
                          {"points": 4, "expires_at": "2027-04-30T16:00:00.000000Z"},
                          {"points": 5, "expires_at": "2027-05-31T16:00:00.000000Z"}])

    def test_negative_entries_have_no_expiry(self):
        m = self.member()
        self.buy(m, 10000)
        r = self.req("POST", "/v1/members/%s/adjustments" % q(m["id"]),
                     {"points": -40, "reason": "correction"})
        self.assertEqual(r.status, 201, r)
        self.assertIsNone(r.json()["entry"]["expires_at"])
        self.assertEqual(self.lots(m)[0][:2], (100, 60))


class SpendingOrder(LotCase):
    def test_soonest_expiry_first_then_oldest(self):
        m = self.member()
        self.buy(m, 10000, "2026-03-10T12:00:00+08:00")   # lot A: 100, expires 2027-03-31
        self.buy(m, 20000, "2026-02-10T12:00:00+08:00")   # lot B: 200, expires 2027-02-28
        self.buy(m, 5000, "2026-02-20T12:00:00+08:00")    # lot C: 50, expires 2027-02-28
        self.redeem(m, self.reward(220))                    # B whole, then 20 of C
        self.assertEqual([l[:2] for l in self.lots(m)], [(100, 100), (200, 0), (50, 30)])
        self.assertEqual(self.balance(m)["expiring"],
                         [{"points": 30, "expires_at": "2027-02-28T16:00:00.000000Z"},
                          {"points": 100, "expires_at": "2027-03-31T16:00:00.000000Z"}])
        # A redemption spanning the last two lots.
        self.redeem(m, self.reward(40))
        self.assertEqual([l[:2] for l in self.lots(m)], [(100, 90), (200, 0), (50, 0)])

    def test_redeem_points_of_a_purchase_spend_older_lots(self):
        m = self.member()
        self.buy(m, 30000, "2026-05-01T12:00:00+08:00")   # 300
        r = self.buy(m, 20000, redeem_points=100).json()   # pays 100, earns (20000-100)/100
        self.assertEqual((r["points_redeemed"], r["points_earned"], r["balance_after"]),
                         (100, 199, 399))
        self.assertEqual([l[:2] for l in self.lots(m)], [(300, 200), (199, 199)])

    def test_cancel_gives_back_a_new_lot(self):
        m = self.member()
        self.buy(m, 10000, "2026-04-10T12:00:00+08:00")
        red = self.redeem(m, self.reward(60)).json()
        r = self.req("POST", "/v1/redemptions/%s/cancel" % q(red["id"]))
        self.assertEqual(r.status, 200, r)
        lots = self.lots(m)
        self.assertEqual([l[:2] for l in lots], [(100, 40), (60, 60)])
        self.assertEqual(self.balance(m)["points_balance"], 100)

    def test_concurrent_redemptions_keep_lots_exact(self):
        m = self.member()
        for month in range(1, 6):
            self.buy(m, 10000, "2026-%02d-05T12:00:00+08:00" % month)  # 5 lots of 100
        reward = self.reward(30)
        results = []

        def go():
            results.append(self.req("POST", "/v1/members/%s/redemptions" % q(m["id"]),
                                    {"reward_id": reward["id"]}).status)

        threads = [threading.Thread(target=go) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(sorted(results), [201] * 16 + [409] * 4)  # 16 x 30 = 480 of 500
        self.assertEqual([l[1] for l in self.lots(m)], [0, 0, 0, 0, 20])


class Pending(LotCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        rules = cls.daemon.request("GET", "/v1/rules").json()["rules"]
        rules["pending_days"] = 3
        r = cls.daemon.request("PUT", "/v1/rules", rules)
        assert r.status == 200, r

    def test_fresh_earnings_are_pending(self):
        m = self.member()
        self.buy(m, 10000)
        b = self.balance(m)
        self.assertEqual((b["points_balance"], b["pending_points"]), (100, 100))
        fifty, thirty = self.reward(50), self.reward(30)
        before = self.fingerprint()
        assert_problem(self, self.redeem(m, fifty, status=409), 409, "insufficient_points")
        assert_problem(self, self.req("POST", "/v1/members/%s/adjustments" % q(m["id"]),
                                      {"points": -10, "reason": "x"}), 409, "insufficient_points")
        assert_problem(self, self.buy(m, 10000, status=409, redeem_points=100), 409,
                       "insufficient_points")
        self.assertEqual(self.fingerprint(), before)
        # Points that are not earned by a purchase are spendable at once.
        r = self.req("POST", "/v1/members/%s/adjustments" % q(m["id"]),
                     {"points": 30, "reason": "goodwill"})
        self.assertEqual(r.status, 201, r)
        self.redeem(m, thirty)
        b = self.balance(m)
        self.assertEqual((b["points_balance"], b["pending_points"]), (100, 100))
        self.assertEqual([l[1] for l in self.lots(m)], [100, 0])

    def test_old_purchases_are_spendable(self):
        m = self.member()
        four_days_ago = (datetime.datetime.now(SHANGHAI) - datetime.timedelta(days=4))
        self.buy(m, 10000, four_days_ago.replace(microsecond=0).isoformat())
        b = self.balance(m)
        self.assertEqual((b["points_balance"], b["pending_points"]), (100, 0))
        self.redeem(m, self.reward(100))


class Referral(LotCase):
    def test_first_purchase_reaching_the_threshold_rewards_both_once(self):
        a = self.member()
        b = self.member(referral_code=a["referral_code"])
        self.assertEqual(b["referred_by"], a["id"])
        r = self.buy(b, 4999).json()                       # below min_first_purchase 5000
        self.assertNotIn("referral", [x["rule"] for x in r["applied"]])
        self.assertEqual(r["balance_after"], 49)
        r = self.buy(b, 5000).json()
        ref = [x for x in r["applied"] if x["rule"] == "referral"]
        self.assertEqual(len(ref), 1)
        self.assertEqual((ref[0]["kind"], ref[0]["points"]), ("referral", 200))
        self.assertEqual((r["points_earned"], r["balance_after"]), (50, 299))
        self.assertEqual([(e["kind"], e["points"], e["purchase_id"]) for e in self.ledger(b)][:2],
                         [("referral", 200, r["id"]), ("earn", 50, r["id"])])
        self.assertEqual([(e["kind"], e["points"], e["reason"]) for e in self.ledger(a)],
                         [("referral", 300, "referred " + b["id"])])
        r = self.buy(b, 9000).json()
        self.assertNotIn("referral", [x["rule"] for x in r["applied"]])
        self.assertEqual(self.balance(a)["points_balance"], 300)
        self.assertEqual(self.balance(b)["points_balance"], 389)

    def test_suspended_referrer_gets_nothing_and_the_grant_is_spent(self):
        a = self.member()
        b = self.member(referral_code=a["referral_code"])
        r = self.req("PATCH", "/v1/members/" + q(a["id"]), {"status": "suspended"})
        self.assertEqual(r.status, 200, r)
        r = self.buy(b, 6000).json()
        self.assertEqual(r["balance_after"], 60 + 200)
        self.assertEqual(self.ledger(a), [])
        self.req("PATCH", "/v1/members/" + q(a["id"]), {"status": "active"})
        r = self.buy(b, 6000).json()
        self.assertEqual(r["balance_after"], 260 + 60)
        self.assertEqual(self.ledger(a), [])

    def test_concurrent_purchases_grant_once(self):
        a = self.member()
        b = self.member(referral_code=a["referral_code"])
        statuses = []

        def go():
            statuses.append(self.buy(b, 5000).status)

        threads = [threading.Thread(target=go) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(statuses, [201] * 8)
        self.assertEqual(self.balance(a)["points_balance"], 300)
        self.assertEqual(self.balance(b)["points_balance"], 8 * 50 + 200)


class TierHistory(LotCase):
    def test_upgrades_are_recorded_with_their_purchase(self):
        m = self.member(backdate=False)
        p1 = self.buy(m, 200000).json()                     # basic -> silver
        self.assertEqual((p1["tier_before"], p1["tier_after"]), ("basic", "silver"))
        self.buy(m, 1000)                                   # no change
        p3 = self.buy(m, 820000).json()                     # silver -> gold (2% off now)
        self.assertEqual(p3["tier_after"], "gold")
        r = self.req("GET", "/v1/members/%s/tier-history" % q(m["id"]))
        self.assertEqual(r.status, 200, r)
        today = datetime.datetime.now(SHANGHAI).date().isoformat()
        items = r.json()["items"]
        self.assertEqual([(i["from_tier"], i["to_tier"], i["reason"], i["purchase_id"],
                           i["qualifying_spend"], i["effective_on"]) for i in items],
                         [("silver", "gold", "purchase", p3["id"], 200000 + 980 + 803600,
                           today),
                          ("basic", "silver", "purchase", p1["id"], 200000, today)])
        page = self.req("GET", "/v1/members/%s/tier-history?limit=1" % q(m["id"])).json()
        self.assertEqual(page["items"], items[:1])
        rest = self.req("GET", "/v1/members/%s/tier-history?limit=1&cursor=%s"
                        % (q(m["id"]), q(page["next_cursor"]))).json()
        self.assertEqual((rest["items"], rest["next_cursor"]), (items[1:], None))

    def test_who_may_read_it(self):
        m = self.member(backdate=False)
        app = make_key(self.daemon, "app")["key"]
        pos = make_key(self.daemon, "pos")["key"]
        path = "/v1/members/%s/tier-history" % q(m["id"])
        self.assertEqual(self.req("GET", path, token=app).json(),
                         {"items": [], "next_cursor": None})
        assert_problem(self, self.req("GET", path, token=pos), 403, "forbidden")
        assert_problem(self, self.req("GET", "/v1/members/mem_999999999/tier-history"), 404,
                       "not_found")


if __name__ == "__main__":
    harness.main()
