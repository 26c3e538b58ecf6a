"""Redemptions recorded in groups (issue 3, performance): redemptions of
different members that wait while their worker's transactions are busy
share one transaction (api/gather.h, api/redemption_group.c), and each
still answers for itself, exactly as it would alone.

The set-up is test_purchase_groups.py's: one worker thread with two
database connections, so one redemption group may run at a time.  A psql
session locks member A's row; A's redemption then waits in the database,
and its group holds the worker's one place.  Redemptions sent next wait
for a group, start one past the limit after GATHER_STUCK_MS, and are
recorded while A's still waits, together: their rows carry one
transaction id (xmin)."""

import json
import secrets
import threading

import harness
from harness import DaemonTestCase, assert_problem, enroll, q
from test_purchase_groups import assert_no_claim_left, group_counters, send_together
from test_workers import waiting_for_locks


class RedemptionGroupTest(DaemonTestCase):
    daemon_threads = 1
    daemon_args = ("--pool-size", "2")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tiers = harness.rule_tiers(cls.daemon)

    def tearDown(self):
        self.assert_ledger_invariant()
        assert_no_claim_left(self)

    def reward(self, **fields):
        body = {"code": "g-" + secrets.token_hex(5), "name": "Gift", "kind": "gift",
                "points_cost": 100, "active": True}
        body.update(fields)
        r = self.req("POST", "/v1/rewards", body)
        self.assertEqual(r.status, 201, r)
        return r.json()

    def member(self, points):
        m = enroll(self.daemon)
        if points:
            r = self.req("POST", "/v1/members/%s/adjustments" % q(m["id"]),
                         {"points": points, "reason": "test grant"})
            self.assertEqual(r.status, 201, r)
        return m

    def balance(self, m):
        r = self.req("GET", "/v1/members/%s/balance" % q(m["id"]))
        self.assertEqual(r.status, 200, r)
        return r.json()["points_balance"]

    def behind_lock(self, member, reward):
        """Locks `member`'s row and posts a redemption for it that waits on
        the lock; returns (lock, thread, [response])."""
        lock = harness.RowLock(self.cluster, self.db, member)
        out = []
        t = threading.Thread(target=lambda: out.append(self.daemon.request(
            "POST", "/v1/members/%s/redemptions" % q(member["id"]), {"reward_id": reward["id"]})))
        t.start()
        waiting, _ = harness.poll_until(lambda: waiting_for_locks(self) == 1, 10.0)
        self.assertTrue(waiting, "the redemption never waited for the member's row")
        return lock, t, out

    def redeem_together(self, pairs):
        """Sends every (member, reward id, quantity) redemption at once."""
        return send_together(self.daemon, [{"reward_id": w, "quantity": n} for _, w, n in pairs],
                             ["/v1/members/%s/redemptions" % q(m["id"]) for m, _, _ in pairs])

    def xmins(self, table, ids):
        return self.psql("SELECT count(DISTINCT xmin::text) FROM %s WHERE id IN (%s);"
                         % (table, ",".join(str(harness.id_num(i)) for i in ids))).strip()

    def test_waiting_redemptions_share_one_transaction(self):
        w = self.reward(points_cost=100)
        a = self.member(500)
        others = [self.member(500) for _ in range(4)]
        groups0, members0 = group_counters(self.daemon, "redemption")
        lock, t, first = self.behind_lock(a, w)
        try:
            answers = self.redeem_together([(m, w["id"], 2) for m in others])
            self.assertEqual([s for s, _ in answers], [201] * 4, answers)
            self.assertEqual([(d["member_id"], d["points_spent"], d["balance_after"], d["status"])
                              for _, d in answers],
                             [(m["id"], 200, 300, "issued") for m in others])
            codes = [c for _, d in answers for c in d["coupon_codes"]]
            self.assertEqual(len(set(codes)), 8, codes)
            # Recorded while A's redemption still waits, in one transaction.
            self.assertTrue(t.is_alive())
            self.assertEqual(waiting_for_locks(self), 1)
            self.assertEqual(self.xmins("redemptions", [d["id"] for _, d in answers]), "1")
        finally:
            lock.release()
            t.join(60)
        self.assertFalse(t.is_alive())
        self.assertEqual(first[0].status, 201, first)
        self.assertEqual(first[0].json()["balance_after"], 400)
        groups1, members1 = group_counters(self.daemon, "redemption")
        self.assertEqual((groups1 - groups0, members1 - members0), (2, 5))
        for m, points in [(a, 400)] + [(m, 300) for m in others]:
            self.assertEqual(self.balance(m), points, m)
        for _, d in answers:
            r = self.req("GET", "/v1/members/%s/ledger" % q(d["member_id"]))
            self.assertEqual([(e["kind"], e["points"], e["redemption_id"])
                              for e in r.json()["items"]],
                             [("redeem", -200, d["id"]), ("adjust", 500, None)])

    def test_each_redemption_of_a_group_answers_for_itself(self):
        """Every check in its order, in one group: each refusal is its own
        and writes nothing; two members take the last unit of a limited
        stock in the group, one gets it and the other is refused as alone;
        a per-member limit is read in the group: one member within it
        redeems, one beyond it is refused; one member's two redemptions go
        one after the other."""
        w = self.reward(points_cost=100)
        gold = self.reward(points_cost=10, min_tier=self.tiers[1])
        stocked = self.reward(points_cost=10, stock=1)
        limited = self.reward(points_cost=10, per_member_limit=1)
        off = self.reward(points_cost=10, active=False)
        a, ok, poor, susp, gilt, s1, s2, lim, twice, lim2 = (self.member(150) for _ in range(10))
        r = self.req("PATCH", "/v1/members/" + q(susp["id"]), {"status": "suspended"})
        self.assertEqual(r.status, 200, r)
        _, members0 = group_counters(self.daemon, "redemption")
        lock, t, _ = self.behind_lock(a, w)
        try:
            answers = self.redeem_together([
                (ok, w["id"], 1), (poor, w["id"], 2), (susp, w["id"], 1), (gilt, gold["id"], 1),
                (ok, "rwd_999999999", 1), (poor, "not-a-reward", 1), (s1, stocked["id"], 1),
                (s2, stocked["id"], 1), (lim, limited["id"], 2), (twice, w["id"], 1),
                (twice, w["id"], 1), (gilt, off["id"], 1), (lim2, limited["id"], 1)])
        finally:
            lock.release()
            t.join(60)
        self.assertFalse(t.is_alive())
        got = [(s, d.get("code")) for s, d in answers]
        self.assertEqual(got[0], (201, None), answers)
        self.assertEqual(got[1], (409, "insufficient_points"), answers)
        self.assertEqual(answers[1][1]["detail"],
                         "the redemption costs 200 points, the spendable balance is 150")
        self.assertEqual(got[2], (409, "member_inactive"), answers)
        self.assertEqual(got[3], (403, "forbidden"), answers)
        self.assertEqual(got[4:6], [(404, "not_found")] * 2, answers)
        self.assertEqual(sorted(got[6:8], key=str), [(201, None), (409, "out_of_stock")], answers)
        won = answers[6] if got[6][0] == 201 else answers[7]
        lost = answers[7] if got[6][0] == 201 else answers[6]
        self.assertEqual(lost[1]["detail"], "not enough of this reward left")
        # The stock taken in the group's transaction, with ok's redemption.
        self.assertEqual(self.xmins("redemptions", [won[1]["id"], answers[0][1]["id"]]), "1")
        self.assertEqual(got[8], (409, "limit_reached"), answers)
        self.assertEqual(answers[8][1]["detail"],
                         "the member may redeem this reward 1 times and has 0")
        self.assertEqual(got[12], (201, None), answers)
        # Within its limit, in the group's transaction, with ok's redemption.
        self.assertEqual(self.xmins("redemptions", [answers[12][1]["id"], answers[0][1]["id"]]),
                         "1")
        self.assertEqual(sorted(got[9:11], key=str), [(201, None), (409, "insufficient_points")],
                         answers)
        self.assertEqual(got[11], (409, "conflict"), answers)
        _, members1 = group_counters(self.daemon, "redemption")
        self.assertEqual(members1 - members0, 14)  # a's and the thirteen
        for m, points in ((a, 50), (ok, 50), (poor, 150), (susp, 150), (gilt, 150),
                          (lim, 150), (twice, 50), (lim2, 140)):
            self.assertEqual(self.balance(m), points, m)
        self.assertEqual(sorted([self.balance(s1), self.balance(s2)]), [140, 150])
        r = self.req("GET", "/v1/rewards?all=true&limit=500")
        stock = {x["id"]: x["stock"] for x in r.json()["items"]}
        self.assertEqual((stock[stocked["id"]], stock[w["id"]]), (0, None))
        r = self.req("POST", "/v1/members/%s/redemptions" % q(lim["id"]),
                     {"reward_id": limited["id"]})
        self.assertEqual(r.status, 201, r)
        r = self.req("POST", "/v1/members/%s/redemptions" % q(lim2["id"]),
                     {"reward_id": limited["id"]})
        assert_problem(self, r, 409, "limit_reached")
        self.assertEqual(r.json()["detail"], "the member may redeem this reward 1 times and has 1")

    def refuse_quantity_three(self):
        """A trigger of the test's own that fails every insert of a
        redemption of quantity 3 (dropped by the caller)."""
        self.psql("CREATE FUNCTION refuse_three() RETURNS trigger LANGUAGE plpgsql AS $$"
                  " BEGIN IF NEW.quantity = 3 THEN"
                  " RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$;"
                  " CREATE TRIGGER refuse_three BEFORE INSERT ON redemptions FOR EACH ROW"
                  " EXECUTE FUNCTION refuse_three();")

    def test_a_failing_statement_sends_the_group_alone(self):
        """A statement that fails aborts the group's transaction before its
        COMMIT; every redemption that was to be written is then redeemed
        alone, and only the failing one fails.  The failure is a trigger of
        the test's own that refuses redemptions of quantity 3."""
        w = self.reward(points_cost=10)
        a, b, c, d = (self.member(100) for _ in range(4))
        self.refuse_quantity_three()
        try:
            _, members0 = group_counters(self.daemon, "redemption")
            lock, t, _ = self.behind_lock(a, w)
            try:
                answers = self.redeem_together([(b, w["id"], 1), (c, w["id"], 3),
                                                (d, w["id"], 1)])
            finally:
                lock.release()
                t.join(60)
            self.assertEqual([s for s, _ in answers], [201, 500, 201], answers)
            self.assertEqual(answers[1][1]["code"], "internal")
            self.assertNotIn("refused", json.dumps(answers[1][1]))
            _, members1 = group_counters(self.daemon, "redemption")
            self.assertEqual(members1 - members0, 4)
        finally:
            self.psql("DROP TRIGGER refuse_three ON redemptions; DROP FUNCTION refuse_three();")
        for m, points in ((a, 90), (b, 90), (c, 100), (d, 90)):
            self.assertEqual(self.balance(m), points, m)
        # Alone: b's and d's in transactions of their own.
        self.assertEqual(self.xmins("redemptions", [answers[0][1]["id"], answers[2][1]["id"]]),
                         "2")
        self.assertEqual(self.psql("SELECT count(*) FROM redemptions WHERE member_id = %d;"
                                   % harness.id_num(c["id"])).strip(), "0")

    def keyed(self, m, w, key, quantity=1):
        return self.req("POST", "/v1/members/%s/redemptions" % q(m["id"]),
                        {"reward_id": w["id"], "quantity": quantity},
                        headers={"Idempotency-Key": key})

    def stored(self, key):
        rows = self.psql("SELECT status || ' ' || body FROM idempotency_keys WHERE key = '%s';"
                         % key).strip()
        return rows

    def test_keyed_redemptions_in_a_group(self):
        """Redemptions with an Idempotency-Key join groups too: the group
        claims the keys (in key order, before any member), answers a
        recorded key from its record (or 422), stores each new answer with
        the COMMIT and sends that very text; a refusal is stored as well.
        (A keyed request that goes alone gives its claim back:
        test_purchase_groups.py, whose groups send more alone.)"""
        w = self.reward(points_cost=100)
        limited = self.reward(points_cost=100, per_member_limit=5)
        a, b, c, d, e, f = (self.member(500) for _ in range(6))
        kb, kc, kd, ke = ("k-" + secrets.token_hex(6) for _ in range(4))
        first = self.keyed(b, w, kb)  # a group of one, keyed
        self.assertEqual(first.status, 201, first)
        self.assertEqual(self.stored(kb), "201 " + first.text)
        _, members0 = group_counters(self.daemon, "redemption")
        lock, t, _ = self.behind_lock(a, w)
        try:
            raw = send_together(self.daemon, [
                {"reward_id": w["id"], "quantity": 1}, {"reward_id": w["id"], "quantity": 2},
                {"reward_id": w["id"], "quantity": 6}, {"reward_id": limited["id"], "quantity": 1},
                {"reward_id": w["id"], "quantity": 1}],
                ["/v1/members/%s/redemptions" % q(m["id"]) for m in (b, c, d, e, f)],
                headers=[{"Idempotency-Key": kb}, {"Idempotency-Key": kc},
                         {"Idempotency-Key": kd}, {"Idempotency-Key": ke}, {}], raw=True)
        finally:
            lock.release()
            t.join(60)
        _, members1 = group_counters(self.daemon, "redemption")
        self.assertEqual(members1 - members0, 6)  # a's and the five, none twice
        answers = [(s_, json.loads(x)) for s_, x in raw]
        self.assertEqual([s_ for s_, _ in answers], [201, 201, 409, 201, 201], answers)
        self.assertEqual(raw[0], (201, first.text))  # the replay, byte for byte
        self.assertEqual(answers[2][1]["code"], "insufficient_points")
        # Each answer is the record's text, byte for byte, and so is its retry.
        for i, m, key, quantity, reward in ((1, c, kc, 2, w), (2, d, kd, 6, w),
                                            (3, e, ke, 1, limited)):
            self.assertEqual(self.stored(key), "%d %s" % raw[i])
            again = self.keyed(m, reward, key, quantity)
            self.assertEqual((again.status, again.text), raw[i])
        # Another body under a recorded key: 422, nothing written.
        r = self.keyed(b, w, kb, 2)
        self.assertEqual((r.status, r.json()["code"]), (422, "idempotency_key_reused"), r)
        # c's (keyed) and f's (not keyed) redemptions, and c's record: one
        # transaction.
        self.assertEqual(self.xmins("redemptions", [answers[1][1]["id"], answers[4][1]["id"]]),
                         "1")
        self.assertEqual(self.psql(
            "SELECT (SELECT xmin::text FROM idempotency_keys WHERE key = '%s')"
            " = (SELECT xmin::text FROM redemptions WHERE id = %d);"
            % (kc, harness.id_num(answers[1][1]["id"]))).strip(), "t")
        for m, points in ((a, 400), (b, 400), (c, 300), (d, 500), (e, 400), (f, 400)):
            self.assertEqual(self.balance(m), points, m)
        self.assertEqual(self.psql("SELECT count(*) FROM redemptions WHERE member_id = %d;"
                                   % harness.id_num(e["id"])).strip(), "1")

    def test_keyed_group_failing_leaves_no_claim(self):
        """A keyed group whose statements fail before the COMMIT sends each
        redemption alone; a 500 stores nothing, so its key, retried once
        the failure is gone, redeems."""
        w = self.reward(points_cost=10)
        a, b, c = (self.member(100) for _ in range(3))
        kb, kc = ("k-" + secrets.token_hex(6) for _ in range(2))
        self.refuse_quantity_three()
        try:
            lock, t, _ = self.behind_lock(a, w)
            try:
                answers = send_together(self.daemon, [
                    {"reward_id": w["id"], "quantity": 1}, {"reward_id": w["id"], "quantity": 3}],
                    ["/v1/members/%s/redemptions" % q(m["id"]) for m in (b, c)],
                    headers=[{"Idempotency-Key": kb}, {"Idempotency-Key": kc}])
            finally:
                lock.release()
                t.join(60)
            self.assertEqual([s_ for s_, _ in answers], [201, 500], answers)
        finally:
            self.psql("DROP TRIGGER refuse_three ON redemptions; DROP FUNCTION refuse_three();")
        self.assertEqual(self.stored(kc), "")
        again = self.keyed(b, w, kb)
        self.assertEqual((again.status, again.json()), (201, answers[0][1]))
        r = self.keyed(c, w, kc, 3)
        self.assertEqual((r.status, r.json()["balance_after"]), (201, 70), r)
        for m, points in ((a, 90), (b, 90), (c, 70)):
            self.assertEqual(self.balance(m), points, m)

if __name__ == "__main__":
    harness.main()
