"""The points ledger and the balance view: entry shape, keyset pages (stable
while new entries arrive), /v1/me/ledger and /v1/me/balance, next_tier and
keep_tier, access rules.

After every test the ledger invariant holds (`loyaltyd check` exits 0)."""

import datetime
import secrets
import threading

import harness
from harness import (DaemonTestCase, assert_problem, enroll, error_fields, make_key,
                     member_token, parse_time, q)

SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))
ENTRY_KEYS = ["id", "kind", "points", "balance_after", "purchase_id", "redemption_id",
              "return_id", "reason", "created_at", "expires_at"]


def expiry_of(occurred, months=12):
    """The instant points earned at `occurred` expire (rules semantics 6): the
    start of the month after the month `months` after the local month."""
    local = occurred.astimezone(SHANGHAI)
    month = local.month - 1 + months + 1
    start = datetime.datetime(local.year + month // 12, month % 12 + 1, 1, tzinfo=SHANGHAI)
    return start.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
BALANCE_KEYS = ["member_id", "points_balance", "pending_points", "tier", "qualifying_spend",
                "next_tier", "keep_tier", "expiring"]


def when(delta_s=-60):
    t = datetime.datetime.now(SHANGHAI) + datetime.timedelta(seconds=delta_s)
    return t.replace(microsecond=0).isoformat()


class LedgerTest(DaemonTestCase):
    """Under the default rule set (1 point per 100 minor units, silver from
    200000 net spend, gold from 1000000, 365-day window, 30 days' grace)."""

    def setUp(self):
        super().setUp()
        self.addCleanup(self.assert_ledger_invariant)

    def buy(self, member, amount, redeem=0, token=harness.ADMIN):
        body = {"store_id": "S001", "terminal_id": "T01",
                "pos_transaction_id": "L-" + secrets.token_hex(8), "member_id": member["id"],
                "occurred_at": when(), "redeem_points": redeem,
                "items": [{"sku": "x", "category": "dry", "quantity": 1, "unit_price": amount}]}
        r = self.req("POST", "/v1/purchases", body, token=token)
        self.assertEqual(r.status, 201, r)
        return r.json()

    def page(self, path, limit=None, cursor=None, token=harness.ADMIN):
        qs = []
        if limit is not None:
            qs.append("limit=%d" % limit)
        if cursor is not None:
            qs.append("cursor=" + q(cursor))
        r = self.req("GET", path + ("?" + "&".join(qs) if qs else ""), token=token)
        self.assertEqual(r.status, 200, r)
        return r.json()

    def all_entries(self, path, limit, token=harness.ADMIN):
        out, cursor = [], None
        while True:
            doc = self.page(path, limit, cursor, token)
            self.assertLessEqual(len(doc["items"]), limit)
            out += doc["items"]
            cursor = doc["next_cursor"]
            if cursor is None:
                return out
            self.assertEqual(cursor, doc["items"][-1]["id"])

    # --------------------------------------------------------------- ledger

    def test_entries(self):
        m = enroll(self.daemon)
        p1 = self.buy(m, 100000)            # earn 1000
        p2 = self.buy(m, 10000, redeem=400)  # redeem 400, earn 96
        entries = self.page("/v1/members/%s/ledger" % q(m["id"]))
        self.assertIsNone(entries["next_cursor"])
        items = entries["items"]
        self.assertEqual([(e["kind"], e["points"], e["balance_after"], e.get("purchase_id"))
                          for e in items],
                         [("earn", 96, 696, p2["id"]), ("redeem", -400, 600, p2["id"]),
                          ("earn", 1000, 1000, p1["id"])])
        for e in items:
            self.assertEqual(list(e.keys()), ENTRY_KEYS)
            self.assertRegex(e["id"], r"^led_\d+$")
            created = parse_time(e["created_at"])
            self.assertLess(abs((created - datetime.datetime.now(datetime.timezone.utc))
                                .total_seconds()), 120)
            self.assertEqual((e["redemption_id"], e["return_id"], e["reason"]),
                             (None, None, None))
            self.assertEqual(e["expires_at"],
                             expiry_of(created) if e["points"] > 0 else None)
        self.assertEqual(p2["balance_after"], 696)
        self.assertEqual(sum(e["points"] for e in items), 696)
        self.assertEqual(self.req("GET", "/v1/members/" + q(m["id"])).json()["points_balance"],
                         696)

    def test_pages(self):
        m = enroll(self.daemon)
        for i in range(7):
            self.buy(m, 100 * (i + 1))
        full = self.page("/v1/members/%s/ledger" % q(m["id"]))["items"]
        self.assertEqual([e["points"] for e in full], [7, 6, 5, 4, 3, 2, 1])
        for limit in (1, 2, 3, 7, 500):
            with self.subTest(limit=limit):
                self.assertEqual(self.all_entries("/v1/members/%s/ledger" % q(m["id"]), limit),
                                 full)
        doc = self.page("/v1/members/%s/ledger" % q(m["id"]), 7)
        self.assertIsNone(doc["next_cursor"])
        for bad in ("limit=0", "limit=501", "limit=-1", "limit=ten", "cursor=pur_1",
                    "cursor=led_", "cursor=1"):
            with self.subTest(bad=bad):
                r = self.req("GET", "/v1/members/%s/ledger?%s" % (q(m["id"]), bad))
                doc = assert_problem(self, r, 400, "validation_failed")
                self.assertEqual(error_fields(doc), [bad.split("=")[0]])
        empty = enroll(self.daemon)
        self.assertEqual(self.page("/v1/members/%s/ledger" % q(empty["id"])),
                         {"items": [], "next_cursor": None})
        for mid in (harness.absent_id_like(m["id"]), "nonsense"):
            assert_problem(self, self.req("GET", "/v1/members/%s/ledger" % q(mid)),
                           404, "not_found")

    def test_pages_while_entries_arrive(self):
        m = enroll(self.daemon)
        for i in range(30):
            self.buy(m, 100 * (i + 1))
        before = self.page("/v1/members/%s/ledger" % q(m["id"]), 500)["items"]
        self.assertEqual(len(before), 30)
        stop = threading.Event()
        added = []
        errors = []

        def writer():
            try:
                while not stop.is_set():
                    added.append(self.buy(m, 1234))
            except BaseException as e:  # reported by the main thread
                errors.append(e)

        t = threading.Thread(target=writer)
        t.start()
        try:
            seen = []
            for _ in range(3):
                seen.append(self.all_entries("/v1/members/%s/ledger" % q(m["id"]), 4))
        finally:
            stop.set()
            t.join(60)
        self.assertEqual(errors, [])
        self.assertGreater(len(added), 0, "the writer never got a purchase in")
        old = [e["id"] for e in before]
        for walk in seen:
            ids = [e["id"] for e in walk]
            self.assertEqual(len(ids), len(set(ids)), "an entry was seen twice")
            nums = [int(i[4:]) for i in ids]
            self.assertEqual(nums, sorted(nums, reverse=True), "not newest first")
            # every entry that existed when the walk began is seen exactly once,
            # and the walk has no holes: balances chain from entry to entry
            self.assertEqual([i for i in ids if i in set(old)], old)
            for newer, older in zip(walk, walk[1:]):
                self.assertEqual(newer["balance_after"] - newer["points"],
                                 older["balance_after"], (newer, older))
        final = self.page("/v1/members/%s/ledger" % q(m["id"]), 500)["items"]
        self.assertEqual(len(final), 30 + len(added))
        self.assertEqual(final[0]["balance_after"],
                         self.req("GET", "/v1/members/" + q(m["id"])).json()["points_balance"])

    def test_me(self):
        m = enroll(self.daemon)
        other = enroll(self.daemon)
        self.buy(m, 5000)
        self.buy(other, 7000)
        tok = member_token(self.daemon, m["id"])["token"]
        mine = self.page("/v1/me/ledger", token=tok)
        self.assertEqual(mine, self.page("/v1/members/%s/ledger" % q(m["id"])))
        self.assertEqual([e["points"] for e in mine["items"]], [50])
        bal = self.req("GET", "/v1/me/balance", token=tok)
        self.assertEqual(bal.status, 200, bal)
        self.assertEqual(bal.json(), self.req("GET", "/v1/members/%s/balance" % q(m["id"])).json())
        # a member token reads only through /v1/me
        for path in ("/v1/members/%s/ledger" % q(m["id"]),
                     "/v1/members/%s/balance" % q(other["id"])):
            assert_problem(self, self.req("GET", path, token=tok), 403, "forbidden")
        assert_problem(self, self.req("GET", "/v1/me/ledger"), 403, "forbidden")
        assert_problem(self, self.req("GET", "/v1/me/balance", token=None), 401, "unauthorized")
        for role in ("pos", "app"):
            key = make_key(self.daemon, role)["key"]
            for path in ("/v1/members/%s/ledger" % q(m["id"]),
                         "/v1/members/%s/balance" % q(m["id"])):
                self.assertEqual(self.req("GET", path, token=key).status, 200, (role, path))

    # -------------------------------------------------------------- balance

    def test_balance_basic_member(self):
        m = enroll(self.daemon)
        r = self.req("GET", "/v1/members/%s/balance" % q(m["id"]))
        self.assertEqual(r.status, 200, r)
        b = r.json()
        self.assertEqual(list(b.keys()), BALANCE_KEYS)
        self.assertEqual(b, {"member_id": m["id"], "points_balance": 0, "pending_points": 0,
                             "tier": "basic", "qualifying_spend": 0,
                             "next_tier": {"code": "silver", "min_spend": 200000,
                                           "spend_needed": 200000},
                             "keep_tier": None, "expiring": []})
        self.buy(m, 50000)
        b = self.req("GET", "/v1/members/%s/balance" % q(m["id"])).json()
        self.assertEqual((b["points_balance"], b["qualifying_spend"]), (500, 50000))
        self.assertEqual(b["next_tier"]["spend_needed"], 150000)
        self.assertIsNone(b["keep_tier"])
        for mid in (harness.absent_id_like(m["id"]), "x"):
            assert_problem(self, self.req("GET", "/v1/members/%s/balance" % q(mid)),
                           404, "not_found")

    def member_id_num(self, member):
        return int(member["id"].rpartition("_")[2])

    def add_purchase(self, member, days_ago, net_spend):
        """Records a purchase `days_ago` days in the past straight in SQL (the API
        refuses occurred_at before enrolment)."""
        self.psql(
            "INSERT INTO purchases (member_id, store_id, terminal_id, pos_transaction_id, "
            "occurred_at, subtotal, discount_total, redeemed_value, total_due, points_earned, "
            "points_redeemed, net_spend, tier_before, tier_after, rules_version, request_hash, "
            "result) VALUES (%d, 'S9', 'T', 'old-%s', now() - interval '%d days', %d, 0, 0, %d, "
            "0, 0, %d, 'basic', 'basic', 1, sha256('%s'), '{}');"
            % (self.member_id_num(member), secrets.token_hex(6), days_ago, net_spend, net_spend,
               net_spend, secrets.token_hex(6)))

    def test_keep_tier(self):
        today = datetime.datetime.now(SHANGHAI).date()

        def day(n):
            return (today + datetime.timedelta(days=n)).isoformat()

        # gold from a purchase 100 days ago: the spend holds until it leaves the
        # window (day 265 from today is its last), the check 30 days later drops
        m = enroll(self.daemon)
        self.add_purchase(m, 100, 1200000)
        self.psql("UPDATE members SET tier = 'gold' WHERE id = %d;" % self.member_id_num(m))
        b = self.req("GET", "/v1/members/%s/balance" % q(m["id"])).json()
        self.assertEqual(b["tier"], "gold")
        self.assertEqual(b["qualifying_spend"], 1200000)
        self.assertIsNone(b["next_tier"])
        self.assertEqual(b["keep_tier"], {"spend_needed": 0, "by": day(365 - 100 + 30)})
        # silver whose spend already fell below 200000 twenty days ago: 10 days left
        m = enroll(self.daemon)
        self.add_purchase(m, 385, 150000)
        self.add_purchase(m, 380, 100000)
        self.add_purchase(m, 5, 30000)
        self.psql("UPDATE members SET tier = 'silver' WHERE id = %d;" % self.member_id_num(m))
        b = self.req("GET", "/v1/members/%s/balance" % q(m["id"])).json()
        self.assertEqual(b["qualifying_spend"], 30000)
        self.assertEqual(b["next_tier"], {"code": "gold", "min_spend": 1000000,
                                          "spend_needed": 970000})
        # the 385-days-ago purchase left the window 20 days ago (the 380 one alone
        # is under 200000), so the last day at the tier was 21 days ago
        self.assertEqual(b["keep_tier"], {"spend_needed": 170000, "by": day(-21 + 1 + 30)})
        # silver whose spend fell below long ago: the next check drops it
        m = enroll(self.daemon)
        self.add_purchase(m, 500, 300000)
        self.psql("UPDATE members SET tier = 'silver' WHERE id = %d;" % self.member_id_num(m))
        b = self.req("GET", "/v1/members/%s/balance" % q(m["id"])).json()
        self.assertEqual(b["keep_tier"], {"spend_needed": 200000, "by": day(0)})


class ConcurrentBalanceReads(DaemonTestCase):
    """Balance reads go through the asynchronous reader, many per batch:
    every answer must be its own request's, under concurrency, from a fresh
    daemon (whose first batches also prepare the statement)."""

    def test_many_readers(self):
        members = [enroll(self.daemon) for _ in range(6)]
        for i, m in enumerate(members):
            r = self.req("POST", "/v1/members/%s/adjustments" % q(m["id"]),
                         {"points": 100 + i, "reason": "seed"})
            self.assertEqual(r.status, 201, r)
        missing = "mem_999999999"
        expected = {m["id"]: 100 + i for i, m in enumerate(members)}
        errors = []

        def reader(k):
            for j in range(40):
                mid = missing if (k + j) % 7 == 0 else members[(k + j) % len(members)]["id"]
                r = self.req("GET", "/v1/members/%s/balance" % q(mid))
                if mid == missing:
                    if r.status != 404 or r.json()["code"] != "not_found":
                        errors.append(r)
                elif r.status != 200 or (r.json()["member_id"], r.json()["points_balance"]) \
                        != (mid, expected[mid]):
                    errors.append((mid, r))

        threads = [threading.Thread(target=reader, args=(k,)) for k in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])


if __name__ == "__main__":
    harness.main()
