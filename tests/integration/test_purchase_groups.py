"""Purchases recorded in groups (issue 3, performance): purchases of
different members that wait while their worker's transactions are busy
share one transaction (api/gather.h, api/purchase_group.c), and each still
answers for itself, exactly once.

One daemon with one worker thread and two database connections, so that
one group may run at a time (a quarter of the worker's connections, at
least one).  A psql session locks member A's row; A's purchase then waits
in the database, and its group (of one) holds the worker's one place.
Purchases sent next wait for a group; after GATHER_STUCK_MS (50 ms) they
start one past the limit, so they are recorded while A's still waits, and
together: the rows they wrote carry one transaction id (xmin).

The purchases of a group are sent at once, each on a connection of its
own opened beforehand, so that they all wait before the first of them has
waited 50 ms."""

import http.client
import json
import random
import secrets
import socket
import threading

import harness
from harness import DaemonTestCase, enroll, error_fields, q
from test_workers import purchase_body, waiting_for_locks


def metric(daemon, name):
    r = daemon.request("GET", "/metrics", token=None)
    for line in r.text.splitlines():
        if line.startswith(name + " "):
            return int(line.split()[1])
    raise AssertionError("no %s in /metrics" % name)


def group_counters(daemon, kind="purchase"):
    return (metric(daemon, "loyalty_%s_groups_total" % kind),
            metric(daemon, "loyalty_%s_group_members_total" % kind))


def send_together(daemon, bodies, paths=None, headers=None, raw=False):
    """POSTs every body at once (to /v1/purchases, or to paths[i], with
    headers[i] besides), each on a fresh connection; returns [(status,
    parsed body)] (with raw, [(status, body text)]) in the order of
    `bodies`."""
    socks = [socket.create_connection(("127.0.0.1", daemon.port), timeout=60) for _ in bodies]
    head = "Host: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\n" % (
        daemon.admin_key)
    msgs = []
    for i, b in enumerate(bodies):
        payload = json.dumps(b).encode()
        extra = "".join("%s: %s\r\n" % kv for kv in (headers[i] if headers else {}).items())
        msgs.append(("POST %s HTTP/1.1\r\n%s%sContent-Length: %d\r\n\r\n"
                     % (paths[i] if paths else "/v1/purchases", head, extra, len(payload))).encode()
                    + payload)
    try:
        for s, m in zip(socks, msgs):
            s.sendall(m)
        out = []
        for s in socks:
            r = http.client.HTTPResponse(s)
            r.begin()
            text = r.read()
            out.append((r.status, text.decode() if raw else json.loads(text)))
        return out
    finally:
        for s in socks:
            s.close()


def balance(tc, member):
    r = tc.req("GET", "/v1/members/%s/balance" % q(member["id"]))
    tc.assertEqual(r.status, 200, r)
    return r.json()["points_balance"]


def assert_no_claim_left(tc):
    """No Idempotency-Key claimed and left unfinished: a committed claim
    without its answer would hold its key's retries forever."""
    tc.assertEqual(tc.psql("SELECT count(*) FROM idempotency_keys WHERE status IS NULL;").strip(),
                   "0")


class PurchaseGroupTest(DaemonTestCase):
    daemon_threads = 1
    daemon_args = ("--pool-size", "2")

    def tearDown(self):
        assert_no_claim_left(self)

    def behind_lock(self, member):
        """Locks `member`'s row and posts a purchase for it that waits on
        the lock; returns (lock, thread, [response])."""
        lock = harness.RowLock(self.cluster, self.db, member)
        out = []
        t = threading.Thread(target=lambda: out.append(
            self.daemon.request("POST", "/v1/purchases", purchase_body(member))))
        t.start()
        waiting, _ = harness.poll_until(lambda: waiting_for_locks(self) == 1, 10.0)
        self.assertTrue(waiting, "the purchase never waited for the member's row")
        return lock, t, out

    def xmins(self, members):
        ids = ",".join(str(harness.id_num(m["id"])) for m in members)
        return self.psql("SELECT count(DISTINCT xmin::text) FROM purchases WHERE member_id IN (%s);"
                         % ids).strip()

    def test_waiting_purchases_share_one_transaction(self):
        a = enroll(self.daemon)
        others = [enroll(self.daemon) for _ in range(4)]
        groups0, members0 = group_counters(self.daemon)
        lock, t, first = self.behind_lock(a)
        try:
            answers = send_together(self.daemon, [purchase_body(m) for m in others])
            self.assertEqual([s for s, _ in answers], [201] * 4, answers)
            self.assertEqual([d["points_earned"] for _, d in answers], [89] * 4)
            self.assertEqual([d["balance_after"] for _, d in answers], [89] * 4)
            self.assertEqual([d["member_id"] for _, d in answers], [m["id"] for m in others])
            # Recorded while A's purchase still waits, in one transaction.
            self.assertTrue(t.is_alive())
            self.assertEqual(waiting_for_locks(self), 1)
            self.assertEqual(self.xmins(others), "1")
        finally:
            lock.release()
            t.join(60)
        self.assertFalse(t.is_alive())
        self.assertEqual(first[0].status, 201, first)
        self.assertEqual(first[0].json()["points_earned"], 89)
        groups1, members1 = group_counters(self.daemon)
        self.assertEqual((groups1 - groups0, members1 - members0), (2, 5))
        for m in [a] + others:
            self.assertEqual(balance(self, m), 89)
        self.assert_ledger_invariant()

    def test_each_purchase_of_a_group_answers_for_itself(self):
        a, b, poor, d, e, f, g = (enroll(self.daemon) for _ in range(7))
        shared = "G-" + secrets.token_hex(8)
        bd, be = purchase_body(d), purchase_body(e)
        bd["pos_transaction_id"] = be["pos_transaction_id"] = shared
        spend = purchase_body(poor)
        spend["redeem_points"] = 50
        bf = purchase_body(f)
        g1, g2 = purchase_body(g), purchase_body(g)
        del g2["member_id"]  # by card: a group of its own key, so g's two meet in one
        g2["card_number"] = g["card_number"]
        _, members0 = group_counters(self.daemon)
        lock, t, _ = self.behind_lock(a)
        try:
            answers = send_together(self.daemon, [purchase_body(b), spend, bd, be, bf, bf, g1, g2])
        finally:
            lock.release()
            t.join(60)
        self.assertFalse(t.is_alive())
        status = [s for s, _ in answers]
        self.assertEqual(status[0], 201, answers)
        # Not enough points: a 409 of its own, nothing written for it.
        self.assertEqual(status[1], 409, answers)
        self.assertEqual(answers[1][1]["code"], "insufficient_points")
        # One POS id for two members: one records it, the other conflicts.
        self.assertEqual(sorted(status[2:4]), [201, 409], answers)
        winner, loser = (d, e) if status[2] == 201 else (e, d)
        self.assertEqual(answers[2 if winner is d else 3][1]["member_id"], winner["id"])
        self.assertEqual(answers[3 if winner is d else 2][1]["code"], "conflict")
        # The same request twice: recorded once, the replay identical.
        self.assertEqual(sorted(status[4:6]), [200, 201], answers)
        self.assertEqual(answers[4][1], answers[5][1])
        # Two purchases of one member: both, one after the other.
        self.assertEqual(status[6:8], [201, 201], answers)
        self.assertEqual(sorted(d_["balance_after"] for _, d_ in answers[6:8]), [89, 178])
        self.assertEqual(self.psql("SELECT count(*) FROM pos_transactions "
                                   "WHERE pos_transaction_id = '%s';" % shared).strip(), "1")
        for m, points in ((b, 89), (poor, 0), (winner, 89), (loser, 0), (f, 89), (g, 178)):
            self.assertEqual(balance(self, m), points, m)
        _, members1 = group_counters(self.daemon)
        self.assertEqual(members1 - members0, 9)  # a's and the eight
        self.assert_ledger_invariant()

    def test_purchases_by_card_join_a_group(self):
        """A purchase that names its member by card joins the group too: the
        group finds the card's member first, then locks every member in
        order.  A card of no member is a 404 of its own; a member named once
        by card and once by id buys twice, one after the other."""
        a, b, c, d = (enroll(self.daemon) for _ in range(4))

        def by_card(m):
            body = purchase_body(m)
            del body["member_id"]
            body["card_number"] = m["card_number"]
            return body

        nobody = by_card(d)
        nobody["card_number"] = "9" * 19
        _, members0 = group_counters(self.daemon)
        lock, t, _ = self.behind_lock(a)
        try:
            answers = send_together(self.daemon,
                                    [by_card(b), purchase_body(c), nobody, by_card(d),
                                     purchase_body(d)])
        finally:
            lock.release()
            t.join(60)
        self.assertFalse(t.is_alive())
        self.assertEqual([s for s, _ in answers], [201, 201, 404, 201, 201], answers)
        self.assertEqual(answers[2][1]["code"], "not_found")
        self.assertEqual([answers[i][1]["member_id"] for i in (0, 1, 3, 4)],
                         [b["id"], c["id"], d["id"], d["id"]])
        self.assertEqual(sorted(answers[i][1]["balance_after"] for i in (3, 4)), [89, 178])
        # b's (by card) and c's (by id) purchases: one transaction.
        self.assertEqual(self.xmins([b, c]), "1")
        for m, points in ((a, 89), (b, 89), (c, 89), (d, 178)):
            self.assertEqual(balance(self, m), points, m)
        _, members1 = group_counters(self.daemon)
        self.assertEqual(members1 - members0, 6)
        self.assert_ledger_invariant()

    def test_coupons_in_a_group(self):
        """A purchase with a coupon joins the group: the group locks the
        coupon after every member and marks it used with the writes.  A
        coupon of another member is a 400 of its own."""
        a, b, c, d = (enroll(self.daemon) for _ in range(4))
        r = self.req("POST", "/v1/rewards",
                     {"code": "g-" + secrets.token_hex(4), "name": "Five off", "kind": "discount",
                      "discount_value": 500, "points_cost": 50, "active": True})
        self.assertEqual(r.status, 201, r)
        reward = r.json()
        r = self.req("POST", "/v1/purchases", purchase_body(b))
        self.assertEqual(r.status, 201, r)
        r = self.req("POST", "/v1/members/%s/redemptions" % q(b["id"]), {"reward_id": reward["id"]})
        self.assertEqual(r.status, 201, r)
        redemption = r.json()
        with_coupon, not_theirs = purchase_body(b), purchase_body(c)
        with_coupon["coupon_code"] = not_theirs["coupon_code"] = redemption["coupon_code"]
        _, members0 = group_counters(self.daemon)
        lock, t, _ = self.behind_lock(a)
        try:
            answers = send_together(self.daemon, [with_coupon, not_theirs, purchase_body(d)])
        finally:
            lock.release()
            t.join(60)
        self.assertEqual([s for s, _ in answers], [201, 400, 201], answers)
        used = answers[0][1]
        self.assertEqual((used["discount_total"], used["total_due"]), (500, 6499 - 500))
        self.assertEqual(used["balance_after"], 89 - 50 + used["points_earned"])
        self.assertEqual(error_fields(answers[1][1]), ["coupon_code"])
        # The coupon's purchase and d's: one transaction (b bought before too).
        self.assertEqual(self.psql(
            "SELECT count(DISTINCT xmin::text) FROM purchases WHERE id IN (%d, %d);"
            % (harness.id_num(used["id"]), harness.id_num(answers[2][1]["id"]))).strip(), "1")
        r = self.req("GET", "/v1/members/%s/redemptions" % q(b["id"]))
        self.assertEqual(r.json()["items"][0]["status"], "used")
        self.assertEqual(self.psql("SELECT purchase_id FROM coupons WHERE code = '%s';"
                                   % redemption["coupon_code"]).strip(),
                         str(harness.id_num(used["id"])))
        for m, points in ((a, 89), (b, 89 - 50 + used["points_earned"]), (c, 0), (d, 89)):
            self.assertEqual(balance(self, m), points, m)
        _, members1 = group_counters(self.daemon)
        self.assertEqual(members1 - members0, 4)
        self.assert_ledger_invariant()

    def test_a_failing_statement_sends_the_group_alone(self):
        """A statement that fails aborts the group's transaction; every
        purchase in it is then recorded alone, and only the failing one
        fails.  The failure is a trigger of the test's own that refuses
        one terminal's purchases.  b and c name Idempotency-Keys: the
        group's claims went with its transaction, so b's key is recorded
        alone and c's 500 leaves its key free."""
        a, b, c, d = (enroll(self.daemon) for _ in range(4))
        kb, kc = ("k-" + secrets.token_hex(6) for _ in range(2))
        self.psql("CREATE FUNCTION refuse_terminal() RETURNS trigger LANGUAGE plpgsql AS $$"
                  " BEGIN IF NEW.terminal_id = 'REFUSED' THEN"
                  " RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$;"
                  " CREATE TRIGGER refuse_terminal BEFORE INSERT ON purchases FOR EACH ROW"
                  " EXECUTE FUNCTION refuse_terminal();")
        try:
            refused = purchase_body(c)
            refused["terminal_id"] = "REFUSED"
            bb = purchase_body(b)
            _, members0 = group_counters(self.daemon)
            lock, t, _ = self.behind_lock(a)
            try:
                answers = send_together(self.daemon, [bb, refused, purchase_body(d)],
                                        headers=[{"Idempotency-Key": kb},
                                                 {"Idempotency-Key": kc}, {}])
            finally:
                lock.release()
                t.join(60)
            self.assertEqual([s for s, _ in answers], [201, 500, 201], answers)
            self.assertEqual(answers[1][1]["code"], "internal")
            self.assertNotIn("refused", json.dumps(answers[1][1]))
            _, members1 = group_counters(self.daemon)
            self.assertEqual(members1 - members0, 4)
        finally:
            self.psql("DROP TRIGGER refuse_terminal ON purchases; DROP FUNCTION refuse_terminal();")
        for m, points in ((a, 89), (b, 89), (c, 0), (d, 89)):
            self.assertEqual(balance(self, m), points, m)
        self.assertEqual(self.xmins([b, d]), "2")
        self.assertEqual(self.stored(kc), "")
        again = self.post(bb, kb)
        self.assertEqual((again.status, again.json()), answers[0])
        r = self.post(refused, kc)
        self.assertEqual((r.status, r.json()["balance_after"]), (201, 89), r)
        self.assert_ledger_invariant()


    def post(self, body, key=None):
        return self.req("POST", "/v1/purchases", body,
                        headers={"Idempotency-Key": key} if key else None)

    def stored(self, key):
        return self.psql("SELECT status || ' ' || body FROM idempotency_keys WHERE key = '%s';"
                         % key).strip()

    def test_keyed_purchases_in_a_group(self):
        """Purchases with an Idempotency-Key join groups: the group claims
        the keys first, answers a recorded key from its record (or 422),
        and stores what each keyed purchase answers - its result, a POS id
        replay, a refusal - with the COMMIT; a keyed purchase that goes
        alone (its member's second in the group, named by card) gives its
        claim back and is recorded alone.  Each answer is its stored
        record, byte for byte, and so is its retry."""
        a, b, c, d, e, f, g = (enroll(self.daemon) for _ in range(7))
        kb, kc, kd, ke, kg1, kg2 = ("k-" + secrets.token_hex(6) for _ in range(6))
        bc = purchase_body(c)
        first_c = self.post(bc, kc)  # a group of one, keyed
        self.assertEqual(first_c.status, 201, first_c)
        bd = purchase_body(d)
        self.assertEqual(self.post(bd).status, 201)  # recorded without a key
        poor = purchase_body(e)
        poor["redeem_points"] = 50
        g1, g2 = purchase_body(g), purchase_body(g)
        del g2["member_id"]  # by card: a group key of its own, so g's two meet in one
        g2["card_number"] = g["card_number"]
        bodies = [purchase_body(b), bc, bd, poor, purchase_body(f), g1, g2]
        keys = [kb, kc, kd, ke, None, kg1, kg2]
        _, members0 = group_counters(self.daemon)
        lock, t, _ = self.behind_lock(a)
        try:
            answers = send_together(self.daemon, bodies, raw=True,
                                    headers=[{"Idempotency-Key": k} if k else {} for k in keys])
        finally:
            lock.release()
            t.join(60)
        _, members1 = group_counters(self.daemon)
        self.assertEqual(members1 - members0, 8)  # a's and the seven, none twice
        self.assertEqual([s_ for s_, _ in answers], [201, 201, 200, 409, 201, 201, 201], answers)
        self.assertEqual(answers[1][1], first_c.text)  # the key's replay
        self.assertEqual(json.loads(answers[3][1])["code"], "insufficient_points")
        for i in (0, 2, 3, 5, 6):
            self.assertEqual(self.stored(keys[i]), "%d %s" % answers[i], i)
            again = self.post(bodies[i], keys[i])
            self.assertEqual((again.status, again.text), answers[i], i)
        r = self.post(purchase_body(c), kc)  # another body under a used key
        self.assertEqual((r.status, r.json()["code"]), (422, "idempotency_key_reused"), r)
        # b's (keyed) and f's purchases, and b's record: one transaction.
        self.assertEqual(self.xmins([b, f]), "1")
        self.assertEqual(self.psql(
            "SELECT (SELECT xmin::text FROM idempotency_keys WHERE key = '%s')"
            " = (SELECT xmin::text FROM purchases WHERE id = %d);"
            % (kb, harness.id_num(json.loads(answers[0][1])["id"]))).strip(), "t")
        self.assertEqual(sorted(json.loads(x)["balance_after"] for _, x in answers[5:7]),
                         [89, 178])
        for m, points in ((a, 89), (b, 89), (c, 89), (d, 89), (e, 0), (f, 89), (g, 178)):
            self.assertEqual(balance(self, m), points, m)
        self.assert_ledger_invariant()

    def test_keyed_refusal_before_any_group_is_stored(self):
        """A keyed purchase whose body is refused before it joins a group
        (an occurred_at too far ahead) is claimed and refused as alone: the
        400 is stored, its retry replays it even once the time has come,
        and another body under the key is 422."""
        m = enroll(self.daemon)
        body = purchase_body(m)
        body["occurred_at"] = "2999-01-01T00:00:00+08:00"
        key = "k-" + secrets.token_hex(6)
        first = self.post(body, key)
        self.assertEqual(first.status, 400, first)
        self.assertEqual(self.stored(key), "400 " + first.text)
        again = self.post(body, key)
        self.assertEqual((again.status, again.text), (400, first.text))
        r = self.post(purchase_body(m), key)
        self.assertEqual((r.status, r.json()["code"]), (422, "idempotency_key_reused"), r)
        self.assertEqual(balance(self, m), 0)

    def test_a_key_held_elsewhere_does_not_hold_up_the_group(self):
        """A's keyed purchase waits for A's row, holding its key.  Its retry
        (same key, same body) and B's purchase are sent together, into one
        group: the group does not wait for the key (it sends the retry
        alone, where it waits for the first to end) and records B's while
        A's row is still held.  Then the first is recorded and the retry
        replays it."""
        a, b = enroll(self.daemon), enroll(self.daemon)
        body, key = purchase_body(a), "k-" + secrets.token_hex(6)
        lock = harness.RowLock(self.cluster, self.db, a)
        first, pair = [], []
        t = threading.Thread(target=lambda: first.append(self.post(body, key)))
        t2 = threading.Thread(target=lambda: pair.extend(send_together(
            self.daemon, [body, purchase_body(b)], headers=[{"Idempotency-Key": key}, {}],
            raw=True)))
        try:
            t.start()
            waiting, _ = harness.poll_until(lambda: waiting_for_locks(self) == 1, 10.0)
            self.assertTrue(waiting, "the purchase never waited for A's row")
            t2.start()
            recorded, _ = harness.poll_until(lambda: self.psql(
                "SELECT count(*) FROM purchases WHERE member_id = %d;"
                % harness.id_num(b["id"])).strip() == "1", 10.0)
            self.assertTrue(recorded, "B's purchase waited for A's key")
            self.assertTrue(t.is_alive())
        finally:
            lock.release()
            t.join(60)
            t2.join(60)
        self.assertEqual(first[0].status, 201, first)
        self.assertEqual(pair[0], (201, first[0].text))
        self.assertEqual(pair[1][0], 201, pair)
        self.assertEqual(self.stored(key), "201 " + first[0].text)
        for m in (a, b):
            self.assertEqual(balance(self, m), 89, m)
        self.assert_ledger_invariant()

class ManyPurchasesTest(DaemonTestCase):
    """Many purchases at once through groups, in whatever composition the
    timing gives: one worker with eight connections (two groups at once),
    sixteen clients, twelve members, and every purchase sent twice, by two
    clients, in a shuffled order (so twins may be in flight together).
    Whatever groups form, each purchase is
    recorded once (201) and its twin replays it (200, the same body), and
    every balance is the sum of what its purchases earned."""

    daemon_threads = 1
    daemon_args = ("--pool-size", "8")

    def test_twins_in_any_grouping(self):
        members = [enroll(self.daemon) for _ in range(12)]
        bodies = [purchase_body(m) for m in members for _ in range(4)]
        sends = [(i, b) for i, b in enumerate(bodies)] * 2
        random.Random(7).shuffle(sends)
        per_client = [sends[k::16] for k in range(16)]
        out, lock = [], threading.Lock()
        _, members0 = group_counters(self.daemon)

        def client(jobs):
            for i, body in jobs:
                r = self.daemon.request("POST", "/v1/purchases", body)
                with lock:
                    out.append((i, r))

        threads = [threading.Thread(target=client, args=(jobs,)) for jobs in per_client]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertFalse(any(t.is_alive() for t in threads))
        self.assertEqual(len(out), 2 * len(bodies))
        by_body = {}
        for i, r in out:
            by_body.setdefault(i, []).append(r)
        earned = {}
        for i, (x, y) in sorted(by_body.items()):
            self.assertEqual(sorted([x.status, y.status]), [200, 201], (x, y))
            self.assertEqual(x.body, y.body)
            doc = x.json()
            self.assertEqual(doc["pos_transaction_id"], bodies[i]["pos_transaction_id"])
            earned[doc["member_id"]] = earned.get(doc["member_id"], 0) + doc["points_earned"]
        for m in members:
            self.assertEqual(balance(self, m), earned[m["id"]], m)
            self.assertEqual(self.psql("SELECT count(*) FROM purchases WHERE member_id = %d;"
                                       % harness.id_num(m["id"])).strip(), "4")
        # Every request went through a group (how many groups formed is
        # the timing's, and not asserted).
        _, members1 = group_counters(self.daemon)
        self.assertEqual(members1 - members0, 2 * len(bodies))
        self.assert_ledger_invariant()


if __name__ == "__main__":
    harness.main()
