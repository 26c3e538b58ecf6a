"""Returns (POST /v1/purchases/{id}/returns): exact points, redeemed points and
net spend taken back, the last units taking the rest, the promotion bonus on
the completing return only, the referral never, replays by pos_return_id,
validation against the purchase, store-bound keys, negative balances repaid
by later earnings, and races.

After every test the ledger invariant holds (`loyaltyd check` exits 0)."""

import datetime
import secrets
import threading

import harness
from harness import DaemonTestCase, assert_problem, enroll, error_fields, make_key, poll_until, q

SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))

RESULT_KEYS = ["id", "purchase_id", "member_id", "pos_return_id", "items", "lines",
               "points_taken_back", "bonus_taken_back", "points_given_back", "net_spend_returned",
               "balance_after", "created_at"]
LINE_KEYS = ["line_no", "sku", "quantity", "points_taken_back", "redeemed_points_given_back",
             "net_spend_returned"]


def when(delta_s=-60):
    t = datetime.datetime.now(SHANGHAI) + datetime.timedelta(seconds=delta_s)
    return t.replace(microsecond=0).isoformat()


def item(sku, category, quantity, unit_price):
    return {"sku": sku, "category": category, "quantity": quantity, "unit_price": unit_price}


def ret_id():
    return "R-" + secrets.token_hex(6)


class ReturnTest(DaemonTestCase):
    """The default rule set (1 point per 100 minor units, fresh x2, tobacco
    excluded, 100 points pay 100 minor units, at most 50% of the bill), plus a
    promotion that fires only at store PROMO (100 bonus points) and a
    referral (referrer 300, referee 200, first purchase >= 5000)."""

    # Enough workers for the races below to run at once.
    daemon_args = ("--threads", "8")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        rules = cls.daemon.request("GET", "/v1/rules").json()["rules"]
        assert rules["earn"]["points_per_unit"] == 1 and rules["earn"]["unit"] == 100, rules
        assert rules["earn"]["category_multipliers"] == {"fresh": 2}, rules
        now = datetime.datetime.now(SHANGHAI)
        rules["promotions"] = [{
            "code": "promo-bonus", "multiplier": 1, "bonus_points": 100, "discount_pct": 0,
            "starts_at": (now - datetime.timedelta(days=1)).replace(microsecond=0).isoformat(),
            "ends_at": (now + datetime.timedelta(days=1)).replace(microsecond=0).isoformat(),
            "when": {"all": [{"fact": "purchase.store_id", "op": "==", "value": "PROMO"}]},
            "categories": []}]
        rules["referral"] = {"referrer_points": 300, "referee_points": 200,
                             "min_first_purchase": 5000}
        r = cls.daemon.request("PUT", "/v1/rules", rules)
        assert r.status == 200, r
        version = r.json()["version"]
        m = enroll(cls.daemon)
        body = {"store_id": "S001", "terminal_id": "T", "pos_transaction_id": "x",
                "member_id": m["id"], "occurred_at": when(), "items": [item("a", "dry", 1, 1)]}

        def current():
            r = cls.daemon.request("POST", "/v1/purchases/quote", body)
            return r.status == 200 and r.json()["rules_version"] == version
        ok, _ = poll_until(current, 10)
        assert ok, "the rules cache never showed version %d" % version

    def setUp(self):
        super().setUp()
        self.addCleanup(self.assert_ledger_invariant)

    # ------------------------------------------------------------ helpers

    def member(self, **fields):
        return enroll(self.daemon, **fields)

    def purchase(self, member, items, store="S001", token=harness.ADMIN, **extra):
        b = {"store_id": store, "terminal_id": "T01", "pos_transaction_id": "T-" +
             secrets.token_hex(8), "member_id": member["id"], "occurred_at": when(),
             "items": items}
        b.update(extra)
        r = self.req("POST", "/v1/purchases", b, token=token)
        self.assertEqual(r.status, 201, r)
        return r.json()

    def post_return(self, purchase_id, items, pos_return_id=None, token=harness.ADMIN,
                    headers=None, raw=None):
        body = {"pos_return_id": pos_return_id or ret_id(), "items": items}
        return self.req("POST", "/v1/purchases/%s/returns" % q(purchase_id), body, token=token,
                        headers=headers, raw=raw)

    def give_back(self, purchase_id, items, **kw):
        r = self.post_return(purchase_id, items, **kw)
        self.assertEqual(r.status, 201, r)
        doc = r.json()
        self.assertEqual(list(doc.keys()), RESULT_KEYS)
        for line in doc["lines"]:
            self.assertEqual(list(line.keys()), LINE_KEYS)
        return doc

    def num(self, public_id):
        return int(public_id.rpartition("_")[2])

    def sql(self, text):
        return self.psql(text).strip()

    def lines_state(self, purchase):
        return self.sql("SELECT string_agg(format('%%s:%%s/%%s/%%s/%%s', line_no, returned_quantity,"
                        " returned_points, returned_redeemed_points, returned_net_spend), ' '"
                        " ORDER BY line_no) FROM purchase_lines WHERE purchase_id = %d;"
                        % self.num(purchase["id"]))

    def race(self, fn, n):
        out = [None] * n
        gate = threading.Barrier(n)

        def run(i):
            gate.wait()
            out[i] = fn(i)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        return out

    # ------------------------------------------------------------ numbers

    def test_partial_return(self):
        m = self.member()
        p = self.purchase(m, [item("A1", "fresh", 3, 1000),   # 3000 -> 30 x2 = 60
                              item("B", "dry", 2, 999),       # 1998 -> 19.98
                              item("CIG", "tobacco", 1, 3000)])
        self.assertEqual([l["points"] for l in p["lines"]], [60, 19, 0])
        self.assertEqual(p["balance_after"], 79)
        rid = ret_id()
        r = self.give_back(p["id"], [{"sku": "A1", "quantity": 1}, {"sku": "B", "quantity": 1}],
                           pos_return_id=rid)
        self.assertRegex(r["id"], r"^ret_\d+$")
        self.assertEqual((r["purchase_id"], r["member_id"], r["pos_return_id"]),
                         (p["id"], m["id"], rid))
        self.assertEqual(r["items"], [{"sku": "A1", "quantity": 1}, {"sku": "B", "quantity": 1}])
        # floor(60 x 1/3) = 20, floor(3000 / 3) = 1000; floor(19 / 2) = 9, floor(1998 / 2) = 999
        self.assertEqual([tuple(l.values()) for l in r["lines"]],
                         [(1, "A1", 1, 20, 0, 1000), (2, "B", 1, 9, 0, 999)])
        self.assertEqual((r["points_taken_back"], r["bonus_taken_back"], r["points_given_back"],
                          r["net_spend_returned"], r["balance_after"]), (29, 0, 0, 1999, 50))
        harness.parse_time(r["created_at"])
        entries = self.ledger(m)
        self.assertEqual([(e["kind"], e["points"], e["balance_after"], e["purchase_id"],
                           e["return_id"], e["reason"]) for e in entries[:1]],
                         [("return", -29, 50, p["id"], r["id"], "return " + rid)])
        self.assertEqual(len(entries), 2)
        self.assertEqual(self.lines_state(p), "1:1/20/0/1000 2:1/9/0/999 3:0/0/0/0")
        # the purchase's net spend (and so the qualifying spend) drops
        self.assertEqual(self.sql("SELECT net_spend, fully_returned FROM purchases WHERE id = %d;"
                                  % self.num(p["id"])), "2999|f")
        self.assertEqual(self.balance(m)["qualifying_spend"], 4998 - 1999)
        self.assertEqual(self.balance(m)["points_balance"], 50)
        self.assertEqual(self.sql("SELECT points_taken, points_given, net_spend_returned"
                                  " FROM purchase_returns WHERE id = %d;" % self.num(r["id"])),
                         "29|0|1999")
        # the purchase as recorded is not rewritten
        g = self.req("GET", "/v1/purchases/" + q(p["id"]))
        self.assertEqual(g.json()["balance_after"], 79)

    def test_two_partial_returns_then_the_rest(self):
        m = self.member()
        # 7 x 1429 = 10003: 100 points, 10003 net spend
        p = self.purchase(m, [item("S", "dry", 7, 1429)])
        self.assertEqual(p["points_earned"], 100)
        r1 = self.give_back(p["id"], [{"sku": "S", "quantity": 2}])
        self.assertEqual((r1["points_taken_back"], r1["net_spend_returned"]), (28, 2858))
        r2 = self.give_back(p["id"], [{"sku": "S", "quantity": 3}])
        # floor(100 x 3/7) = 42, floor(10003 x 3/7) = 4287
        self.assertEqual((r2["points_taken_back"], r2["net_spend_returned"]), (42, 4287))
        self.assertEqual(self.sql("SELECT fully_returned FROM purchases WHERE id = %d;"
                                  % self.num(p["id"])), "f")
        # the last 2 units take the rest: 100 - 70, 10003 - 7145
        r3 = self.give_back(p["id"], [{"sku": "S", "quantity": 2}])
        self.assertEqual((r3["points_taken_back"], r3["net_spend_returned"], r3["balance_after"]),
                         (30, 2858, 0))
        self.assertEqual(self.lines_state(p), "1:7/100/0/10003")
        self.assertEqual(self.sql("SELECT net_spend, fully_returned FROM purchases WHERE id = %d;"
                                  % self.num(p["id"])), "0|t")
        self.assertEqual(self.balance(m)["qualifying_spend"], 0)
        self.assertEqual([(e["kind"], e["points"], e["balance_after"]) for e in self.ledger(m)],
                         [("return", -30, 0), ("return", -42, 30), ("return", -28, 72),
                          ("earn", 100, 100)])
        # nothing is left to return
        doc = assert_problem(self, self.post_return(p["id"], [{"sku": "S", "quantity": 1}]),
                             400, "validation_failed")
        self.assertEqual(error_fields(doc), ["items[0].quantity"])

    def test_units_come_off_the_earliest_line_first(self):
        m = self.member()
        p = self.purchase(m, [item("A", "dry", 2, 1000), item("B", "dry", 1, 500),
                              item("A", "dry", 3, 1000)])
        self.assertEqual([l["points"] for l in p["lines"]], [20, 5, 30])
        # the same sku twice in the request is added up: 3 units of A
        r = self.give_back(p["id"], [{"sku": "A", "quantity": 1}, {"sku": "A", "quantity": 2}])
        self.assertEqual(r["items"], [{"sku": "A", "quantity": 3}])
        self.assertEqual([(l["line_no"], l["quantity"], l["points_taken_back"],
                           l["net_spend_returned"]) for l in r["lines"]],
                         [(1, 2, 20, 2000), (3, 1, 10, 1000)])
        self.assertEqual(self.lines_state(p), "1:2/20/0/2000 2:0/0/0/0 3:1/10/0/1000")

    def test_redeemed_points_come_back(self):
        m = self.member()
        self.purchase(m, [item("big", "dry", 1, 150000)])  # 1500 points
        # 1001 points pay 1001 minor units, shared 3000:1000 -> 751, 250 (largest
        # remainder); points 22.49 + 7.50 -> 22 + 7
        p = self.purchase(m, [item("a", "dry", 3, 1000), item("b", "dry", 1, 1000),
                              item("CIG", "tobacco", 1, 5000)], redeem_points=1001)
        self.assertEqual([l["points"] for l in p["lines"]], [22, 7, 0])
        self.assertEqual(p["balance_after"], 1500 - 1001 + 29)
        self.assertEqual(self.balance(m)["qualifying_spend"], 150000 + 2249 + 750)
        r1 = self.give_back(p["id"], [{"sku": "a", "quantity": 1}])
        # points floor(22/3) = 7, redeemed floor(751/3) = 250, net floor(2249/3) = 749
        self.assertEqual([tuple(l.values()) for l in r1["lines"]], [(1, "a", 1, 7, 250, 749)])
        self.assertEqual((r1["points_taken_back"], r1["points_given_back"], r1["balance_after"]),
                         (7, 250, 528 - 7 + 250))
        entries = self.ledger(m)
        self.assertEqual([(e["kind"], e["points"], e["balance_after"], e["return_id"])
                          for e in entries[:2]],
                         [("return", 250, 771, r1["id"]), ("return", -7, 521, r1["id"])])
        self.assertIsNotNone(entries[0]["expires_at"])  # given-back points start a lot
        r2 = self.give_back(p["id"], [{"sku": "a", "quantity": 1}])
        self.assertEqual((r2["points_taken_back"], r2["points_given_back"],
                          r2["net_spend_returned"], r2["balance_after"]), (7, 250, 749, 1014))
        # the rest, tobacco included: a takes 8, 251, 751; b 7, 250, 750
        r3 = self.give_back(p["id"], [{"sku": "CIG", "quantity": 1}, {"sku": "b", "quantity": 1},
                                      {"sku": "a", "quantity": 1}])
        self.assertEqual([tuple(l.values()) for l in r3["lines"]],
                         [(1, "a", 1, 8, 251, 751), (2, "b", 1, 7, 250, 750),
                          (3, "CIG", 1, 0, 0, 0)])
        self.assertEqual((r3["points_taken_back"], r3["bonus_taken_back"],
                          r3["points_given_back"], r3["net_spend_returned"],
                          r3["balance_after"]), (15, 0, 501, 1501, 1500))
        # the full return nets the purchase to zero: every point redeemed is back
        self.assertEqual(self.sql("SELECT sum(points) FROM ledger_entries WHERE purchase_id = %d;"
                                  % self.num(p["id"])), "0")
        self.assertEqual(self.balance(m)["points_balance"], 1500)
        self.assertEqual(self.balance(m)["qualifying_spend"], 150000)

    def test_full_return_takes_the_bonus_but_not_the_referral(self):
        referrer = self.member()
        m = self.member(referral_code=referrer["referral_code"])
        p = self.purchase(m, [item("x", "dry", 2, 6000), item("f", "fresh", 1, 1000)],
                          store="PROMO")
        # 120 + 20 points, 100 bonus; the referee's 200 is its own entry
        self.assertEqual(p["points_earned"], 240)
        self.assertEqual(p["balance_after"], 440)
        self.assertEqual(self.balance(referrer)["points_balance"], 300)
        r1 = self.give_back(p["id"], [{"sku": "x", "quantity": 1}])
        self.assertEqual((r1["points_taken_back"], r1["bonus_taken_back"], r1["balance_after"]),
                         (60, 0, 380))
        r2 = self.give_back(p["id"], [{"sku": "f", "quantity": 1}, {"sku": "x", "quantity": 1}])
        self.assertEqual((r2["points_taken_back"], r2["bonus_taken_back"], r2["balance_after"]),
                         (80, 100, 200))
        self.assertEqual([(e["kind"], e["points"]) for e in self.ledger(m)[:1]],
                         [("return", -180)])
        # the purchase's own points net to zero; the referral stays on both sides
        self.assertEqual(self.sql("SELECT sum(points) FROM ledger_entries WHERE purchase_id = %d"
                                  " AND kind <> 'referral';" % self.num(p["id"])), "0")
        self.assertEqual(self.balance(m)["points_balance"], 200)
        self.assertEqual(self.balance(referrer)["points_balance"], 300)
        self.assertEqual(self.sql("SELECT points_taken FROM purchase_returns WHERE id = %d;"
                                  % self.num(r2["id"])), "180")

    def test_zero_point_return_writes_no_entry(self):
        m = self.member()
        p = self.purchase(m, [item("CIG", "tobacco", 2, 3000), item("x", "dry", 1, 1000)])
        before = self.ledger(m)
        r = self.give_back(p["id"], [{"sku": "CIG", "quantity": 1}])
        self.assertEqual((r["points_taken_back"], r["points_given_back"], r["net_spend_returned"],
                          r["balance_after"]), (0, 0, 0, 10))
        self.assertEqual(self.ledger(m), before)
        self.assertEqual(self.sql("SELECT count(*) FROM purchase_returns WHERE id = %d;"
                                  % self.num(r["id"])), "1")

    def test_suspended_member_may_return(self):
        m = self.member()
        p = self.purchase(m, [item("x", "dry", 1, 5000)])
        self.assertEqual(self.req("PATCH", "/v1/members/" + q(m["id"]),
                                  {"status": "suspended"}).status, 200)
        r = self.give_back(p["id"], [{"sku": "x", "quantity": 1}])
        self.assertEqual(r["balance_after"], 0)

    # ------------------------------------------------------------ debt

    def test_return_after_the_points_were_spent(self):
        m = self.member()
        p = self.purchase(m, [item("x", "dry", 1, 10000)])  # 100 points
        reward = self.req("POST", "/v1/rewards", {"code": "r-" + secrets.token_hex(4),
                                                   "name": "Mug", "kind": "gift", "points_cost": 100,
                                                   "active": True})
        self.assertEqual(reward.status, 201, reward)
        red = self.req("POST", "/v1/members/%s/redemptions" % q(m["id"]),
                       {"reward_id": reward.json()["id"]})
        self.assertEqual(red.status, 201, red)
        r = self.give_back(p["id"], [{"sku": "x", "quantity": 1}])
        self.assertEqual((r["points_taken_back"], r["balance_after"]), (100, -100))
        self.assertEqual([(e["kind"], e["points"], e["balance_after"]) for e in self.ledger(m)],
                         [("return", -100, -100), ("redeem", -100, 0), ("earn", 100, 100)])
        mid = self.num(m["id"])
        self.assertEqual(self.sql("SELECT coalesce(sum(remaining), 0) FROM point_lots"
                                  " WHERE member_id = %d;" % mid), "0")
        # later earnings repay the debt first: no lot until the balance is positive
        p2 = self.purchase(m, [item("y", "dry", 1, 5000)])
        self.assertEqual(p2["balance_after"], -50)
        self.assertEqual(self.sql("SELECT coalesce(sum(remaining), 0) FROM point_lots"
                                  " WHERE member_id = %d;" % mid), "0")
        p3 = self.purchase(m, [item("z", "dry", 1, 20000)])
        self.assertEqual(p3["balance_after"], 150)
        self.assertEqual(self.sql("SELECT string_agg(points || '/' || remaining, ' ')"
                                  " FROM point_lots WHERE member_id = %d AND remaining > 0;"
                                  % mid), "150/150")
        bal = self.balance(m)
        self.assertEqual(bal["points_balance"], 150)
        self.assertEqual([e["points"] for e in bal["expiring"]], [150])

    # ------------------------------------------------------------ replays

    def test_replay_same_pos_return_id(self):
        m = self.member()
        p = self.purchase(m, [item("A", "dry", 3, 1000), item("B", "dry", 2, 500)])
        rid = ret_id()
        items = [{"sku": "A", "quantity": 1}, {"sku": "B", "quantity": 1}]
        r1 = self.post_return(p["id"], items, pos_return_id=rid)
        self.assertEqual(r1.status, 201, r1)
        fp = self.fingerprint()
        # the same request, also with the items in another order or a sku split in two
        for again in (items, list(reversed(items)),
                      [{"sku": "B", "quantity": 1}, {"sku": "A", "quantity": 1}]):
            r = self.post_return(p["id"], again, pos_return_id=rid)
            self.assertEqual((r.status, r.body), (200, r1.body))
        r = self.post_return(p["id"], [{"sku": "A", "quantity": 1}, {"sku": "B", "quantity": 1}],
                             pos_return_id=rid)
        self.assertEqual((r.status, r.body), (200, r1.body))
        self.assertEqual(self.fingerprint(), fp, "a replay changed the database")
        # a suspended member's replay still answers from the record
        self.assertEqual(self.req("PATCH", "/v1/members/" + q(m["id"]),
                                  {"status": "suspended"}).status, 200)
        r = self.post_return(p["id"], items, pos_return_id=rid)
        self.assertEqual((r.status, r.body), (200, r1.body))
        # with an Idempotency-Key: the replay stored under the key
        key = "idem-" + secrets.token_hex(6)
        for _ in range(2):
            r = self.post_return(p["id"], items, pos_return_id=rid, headers={"Idempotency-Key": key})
            self.assertEqual((r.status, r.body), (200, r1.body))

    def test_replay_split_sku_is_the_same_request(self):
        m = self.member()
        p = self.purchase(m, [item("A", "dry", 3, 1000)])
        rid = ret_id()
        r1 = self.post_return(p["id"], [{"sku": "A", "quantity": 2}], pos_return_id=rid)
        self.assertEqual(r1.status, 201, r1)
        fp = self.fingerprint()
        r2 = self.post_return(p["id"], [{"sku": "A", "quantity": 1}, {"sku": "A", "quantity": 1}],
                              pos_return_id=rid)
        self.assertEqual((r2.status, r2.body), (200, r1.body))
        self.assertEqual(self.fingerprint(), fp)

    def test_same_pos_return_id_with_other_items_is_a_conflict(self):
        m = self.member()
        p = self.purchase(m, [item("A", "dry", 3, 1000), item("B", "dry", 2, 500)])
        rid = ret_id()
        r1 = self.give_back(p["id"], [{"sku": "A", "quantity": 1}], pos_return_id=rid)
        fp = self.fingerprint()
        for other in ([{"sku": "A", "quantity": 2}], [{"sku": "B", "quantity": 1}],
                      [{"sku": "A", "quantity": 1}, {"sku": "B", "quantity": 1}],
                      [{"sku": "A", "quantity": 99}]):
            with self.subTest(other=other):
                doc = assert_problem(self, self.post_return(p["id"], other, pos_return_id=rid),
                                     409, "conflict")
                self.assertIn(r1["id"], doc["detail"])
                self.assertEqual(self.fingerprint(), fp)
        # the same pos_return_id on another purchase is another return
        p2 = self.purchase(m, [item("A", "dry", 1, 1000)])
        self.give_back(p2["id"], [{"sku": "A", "quantity": 1}], pos_return_id=rid)

    def test_racing_replays_write_once(self):
        m = self.member()
        p = self.purchase(m, [item("A", "dry", 5, 1000)])
        rid = ret_id()
        rs = self.race(lambda i: self.post_return(p["id"], [{"sku": "A", "quantity": 2}],
                                                  pos_return_id=rid), 10)
        self.assertEqual(sorted(r.status for r in rs), [200] * 9 + [201], rs)
        first = [r for r in rs if r.status == 201][0]
        for r in rs:
            self.assertEqual(r.body, first.body)
        self.assertEqual(self.sql("SELECT count(*) FROM purchase_returns WHERE purchase_id = %d;"
                                  % self.num(p["id"])), "1")
        self.assertEqual(self.balance(m)["points_balance"], 50 - 20)

    def test_concurrent_returns_of_one_unit_each(self):
        m = self.member()
        p = self.purchase(m, [item("A", "dry", 5, 1001)])  # 50.05 -> 50 points
        rs = self.race(lambda i: self.post_return(p["id"], [{"sku": "A", "quantity": 1}],
                                                  pos_return_id="C-%d-%s" % (i, p["id"])), 10)
        self.assertEqual(sorted(r.status for r in rs), [201] * 5 + [400] * 5, rs)
        for r in rs:
            if r.status == 400:
                doc = assert_problem(self, r, 400, "validation_failed")
                self.assertEqual(error_fields(doc), ["items[0].quantity"])
        done = sorted((r.json() for r in rs if r.status == 201), key=lambda d: d["balance_after"],
                      reverse=True)
        # four take floor(50/5) = 10 and the last one the rest; the balance falls by each
        self.assertEqual([d["points_taken_back"] for d in done], [10, 10, 10, 10, 10])
        self.assertEqual([d["balance_after"] for d in done], [40, 30, 20, 10, 0])
        self.assertEqual([d["net_spend_returned"] for d in done], [1001] * 5)
        self.assertEqual(self.lines_state(p), "1:5/50/0/5005")
        self.assertEqual(self.sql("SELECT fully_returned FROM purchases WHERE id = %d;"
                                  % self.num(p["id"])), "t")

    # ------------------------------------------------------------ refusals

    def test_more_than_bought_changes_nothing(self):
        m = self.member()
        p = self.purchase(m, [item("A", "dry", 2, 1000), item("B", "dry", 1, 1000)])
        fp = self.fingerprint()
        for items, fields in (([{"sku": "A", "quantity": 3}], ["items[0].quantity"]),
                              ([{"sku": "B", "quantity": 1}, {"sku": "A", "quantity": 1},
                                {"sku": "A", "quantity": 2}], ["items[1].quantity"]),
                              ([{"sku": "B", "quantity": 2}, {"sku": "A", "quantity": 5}],
                               ["items[0].quantity", "items[1].quantity"])):
            with self.subTest(items=items):
                doc = assert_problem(self, self.post_return(p["id"], items), 400,
                                     "validation_failed")
                self.assertEqual(error_fields(doc), fields)
                self.assertEqual(self.fingerprint(), fp)
        self.give_back(p["id"], [{"sku": "A", "quantity": 1}])
        doc = assert_problem(self, self.post_return(p["id"], [{"sku": "A", "quantity": 2}]), 400,
                             "validation_failed")
        self.assertIn("1 still returnable", doc["errors"][0]["message"])

    def test_unknown_sku(self):
        m = self.member()
        p = self.purchase(m, [item("A", "dry", 2, 1000)])
        fp = self.fingerprint()
        doc = assert_problem(self, self.post_return(p["id"], [{"sku": "A", "quantity": 1},
                                                             {"sku": "Z", "quantity": 1}]),
                             400, "validation_failed")
        self.assertEqual(error_fields(doc), ["items[1].sku"])
        self.assertEqual(self.fingerprint(), fp)

    def test_unknown_purchase(self):
        m = self.member()
        p = self.purchase(m, [item("A", "dry", 2, 1000)])
        fp = self.fingerprint()
        for pid in (harness.absent_id_like(p["id"]), "nonsense", m["id"]):
            with self.subTest(pid=pid):
                assert_problem(self, self.post_return(pid, [{"sku": "A", "quantity": 1}]), 404,
                               "not_found")
        # the body is checked before the purchase
        doc = assert_problem(self, self.post_return(harness.absent_id_like(p["id"]),
                                                    [{"sku": "A", "quantity": 0}]),
                             400, "validation_failed")
        self.assertEqual(error_fields(doc), ["items[0].quantity"])
        self.assertEqual(self.fingerprint(), fp)

    def test_validation(self):
        m = self.member()
        p = self.purchase(m, [item("A", "dry", 2, 1000)])
        path = "/v1/purchases/%s/returns" % q(p["id"])
        fp = self.fingerprint()
        ok = {"pos_return_id": "R1", "items": [{"sku": "A", "quantity": 1}]}
        for body, fields in (
                (dict(ok, extra=1), ["extra"]),
                ({"items": ok["items"]}, ["pos_return_id"]),
                ({"pos_return_id": "R1"}, ["items"]),
                (dict(ok, pos_return_id="has space"), ["pos_return_id"]),
                (dict(ok, pos_return_id="x" * 65), ["pos_return_id"]),
                (dict(ok, pos_return_id=""), ["pos_return_id"]),
                (dict(ok, items=[]), ["items"]),
                (dict(ok, items={"sku": "A"}), ["items"]),
                (dict(ok, items=[{"sku": "A", "quantity": 1}] * 501), ["items"]),
                (dict(ok, items=[{"sku": "A", "quantity": 0}]), ["items[0].quantity"]),
                (dict(ok, items=[{"sku": "A", "quantity": 100001}]), ["items[0].quantity"]),
                (dict(ok, items=[{"sku": "A", "quantity": 1.0}]), ["items[0].quantity"]),
                (dict(ok, items=[{"sku": "", "quantity": 1}]), ["items[0].sku"]),
                (dict(ok, items=[{"sku": "A", "quantity": 1, "price": 2}]), ["items[0].price"]),
                (dict(ok, items=[{"quantity": 1}, 5]), ["items[0].sku", "items[1]"])):
            with self.subTest(body=body):
                doc = assert_problem(self, self.req("POST", path, body), 400,
                                     "validation_failed")
                self.assertEqual(error_fields(doc), fields)
        assert_problem(self, self.req("POST", path, raw=b"{"), 400, "malformed_json")
        self.assertEqual(self.fingerprint(), fp)

    # ------------------------------------------------------------ access

    def test_roles_and_store_binding(self):
        m = self.member()
        p1 = self.purchase(m, [item("A", "dry", 2, 1000)], store="S001")
        p2 = self.purchase(m, [item("A", "dry", 2, 1000)], store="S002")
        pos1 = make_key(self.daemon, "pos", store_id="S001")["key"]
        free_pos = make_key(self.daemon, "pos")["key"]
        app = make_key(self.daemon, "app")["key"]
        fp = self.fingerprint()
        assert_problem(self, self.post_return(p2["id"], [{"sku": "A", "quantity": 1}],
                                              token=pos1), 403, "forbidden")
        assert_problem(self, self.post_return(p1["id"], [{"sku": "A", "quantity": 1}],
                                              token=app), 403, "forbidden")
        assert_problem(self, self.post_return(p1["id"], [{"sku": "A", "quantity": 1}],
                                              token=None), 401, "unauthorized")
        self.assertEqual(self.fingerprint(), fp)
        self.give_back(p1["id"], [{"sku": "A", "quantity": 1}], token=pos1)
        self.give_back(p2["id"], [{"sku": "A", "quantity": 1}], token=free_pos)
        self.assertEqual(self.req("GET", "/v1/purchases/%s/returns" % q(p1["id"])).status, 405)


if __name__ == "__main__":
    harness.main()
