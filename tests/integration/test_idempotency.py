"""Idempotency-Key on POST: replays, reuse with another body, scoping, concurrency."""

import secrets
import threading

import harness
from harness import (DaemonTestCase, assert_problem, enroll, make_key, q, unique_card,
                     unique_email)


def ikey():
    return "idem-" + secrets.token_hex(12)


class IdempotencyTest(DaemonTestCase):

    def post(self, path, body, key, token=harness.ADMIN):
        return self.req("POST", path, body, token=token, headers={"Idempotency-Key": key})

    def count_cards(self, card):
        return int(self.psql("SELECT count(*) FROM members WHERE card_number = %s;"
                             % harness.quote_literal(card)).strip())

    def test_replay_same_body(self):
        k = ikey()
        body = {"name": "王小明", "card_number": unique_card(), "email": unique_email()}
        r1 = self.post("/v1/members", body, k)
        self.assertEqual(r1.status, 201, r1)
        fp = self.fingerprint()
        r2 = self.post("/v1/members", body, k)
        self.assertEqual(r2.status, 201, r2)
        self.assertEqual(r2.body, r1.body)
        self.assertEqual(self.fingerprint(), fp, "a replay changed the database")
        self.assertEqual(self.count_cards(body["card_number"]), 1)
        # the same JSON sent with other spacing is the same body
        raw = b'{ "name" : "\xe7\x8e\x8b\xe5\xb0\x8f\xe6\x98\x8e", "card_number": "%s",\n'\
              b' "email": "%s" }' % (body["card_number"].encode(), body["email"].encode())
        r3 = self.req("POST", "/v1/members", raw=raw, headers={"Idempotency-Key": k})
        self.assertIn(r3.status, (201, 422), r3)
        if r3.status == 201:
            self.assertEqual(r3.body, r1.body)
        self.assertEqual(self.count_cards(body["card_number"]), 1)

    def test_replay_returns_stored_response_after_changes(self):
        k = ikey()
        body = {"name": "Original", "card_number": unique_card()}
        r1 = self.post("/v1/members", body, k)
        self.assertEqual(r1.status, 201, r1)
        mid = r1.json()["id"]
        r = self.req("PATCH", "/v1/members/" + q(mid), {"name": "Changed"})
        self.assertEqual(r.status, 200, r)
        r2 = self.post("/v1/members", body, k)
        self.assertEqual((r2.status, r2.body), (r1.status, r1.body))

    def test_same_key_different_body(self):
        k = ikey()
        body = {"name": "First", "card_number": unique_card()}
        self.assertEqual(self.post("/v1/members", body, k).status, 201)
        fp = self.fingerprint()
        for other in ({"name": "Second", "card_number": unique_card()},
                      dict(body, name="First "), {"name": "First"}):
            with self.subTest(other=other):
                r = self.post("/v1/members", other, k)
                assert_problem(self, r, 422, "idempotency_key_reused")
                self.assertEqual(self.fingerprint(), fp)

    def test_key_scoped_to_path(self):
        k = ikey()
        m = self.post("/v1/members", {"name": "Scoped", "card_number": unique_card()}, k)
        self.assertEqual(m.status, 201, m)
        mid = m.json()["id"]
        r = self.post("/v1/keys", {"name": "scoped", "role": "app"}, k)
        self.assertEqual(r.status, 201, r)
        self.assertIn("key", r.json())
        t1 = self.post("/v1/members/%s/tokens" % q(mid), {}, k)
        self.assertEqual(t1.status, 201, t1)
        other = enroll(self.daemon)
        t2 = self.post("/v1/members/%s/tokens" % q(other["id"]), {}, k)
        self.assertEqual(t2.status, 201, t2)
        self.assertNotEqual(t1.json()["token"], t2.json()["token"])
        # and each one replays on its own
        fp = self.fingerprint()
        t1b = self.post("/v1/members/%s/tokens" % q(mid), {}, k)
        self.assert_secret_replay(t1b, t1, "token")
        rb = self.post("/v1/keys", {"name": "scoped", "role": "app"}, k)
        self.assert_secret_replay(rb, r, "key")
        self.assertEqual(self.fingerprint(), fp, "a replay minted a new credential")

    def assert_secret_replay(self, again, first, secret):
        """A replay of a response carrying a secret (an API key, a member token) is the
        stored response; a daemon that stores secrets only hashed may blank the secret
        (null) in it, but must never mint a new one."""
        self.assertEqual(again.status, first.status, again)
        a, f = again.json(), first.json()
        self.assertIn(a.get(secret), (f[secret], None), "replay returned another %s" % secret)
        a.pop(secret, None)
        f.pop(secret, None)
        self.assertEqual(a, f)

    def test_key_scoped_to_credential(self):
        k = ikey()
        other_admin = make_key(self.daemon, "admin")["key"]
        app = make_key(self.daemon, "app")["key"]
        body = {"name": "Cred", "card_number": unique_card()}
        r1 = self.post("/v1/members", body, k)
        self.assertEqual(r1.status, 201, r1)
        # another credential, same key, same body: not a replay -> a second enrol -> conflict
        r2 = self.post("/v1/members", body, k, token=other_admin)
        assert_problem(self, r2, 409, "conflict")
        # another credential, same key, another body: not "reused", a fresh request
        r3 = self.post("/v1/members", {"name": "Cred 2", "card_number": unique_card()}, k,
                       token=app)
        self.assertEqual(r3.status, 201, r3)
        self.assertEqual(self.count_cards(body["card_number"]), 1)

    def test_key_length(self):
        body = {"name": "Len", "card_number": unique_card()}
        fp = self.fingerprint()
        for bad in ("k" * 201, "x" * 1000, ""):
            r = self.post("/v1/members", body, bad)
            assert_problem(self, r, 400, "validation_failed")
            self.assertEqual(self.fingerprint(), fp)
        r = self.post("/v1/members", body, "k" * 200)
        self.assertEqual(r.status, 201, r)
        r2 = self.post("/v1/members", body, "k" * 200)
        self.assertEqual((r2.status, r2.body), (r.status, r.body))
        r = self.post("/v1/members", {"name": "Len 1", "card_number": unique_card()}, "1")
        self.assertEqual(r.status, 201, r)

    def test_concurrent_same_key(self):
        k = ikey()
        body = {"name": "Race", "card_number": unique_card(), "email": unique_email()}
        n = 20
        barrier = threading.Barrier(n)
        results = [None] * n

        def worker(i):
            barrier.wait()
            try:
                results[i] = self.post("/v1/members", body, k)
            except Exception as e:  # reported below
                results[i] = e

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        errors = [r for r in results if not isinstance(r, harness.Response)]
        self.assertEqual(errors, [])
        created = [r for r in results if r.status == 201]
        others = [r for r in results if r.status != 201]
        self.assertGreaterEqual(len(created), 1, results)
        self.assertEqual(len({r.body for r in created}), 1, "201 bodies differ")
        for r in others:
            assert_problem(self, r, 409, "conflict")
        self.assertEqual(self.count_cards(body["card_number"]), 1)
        # after the race, the key replays the 201
        r = self.post("/v1/members", body, k)
        self.assertEqual((r.status, r.body), (201, created[0].body))


if __name__ == "__main__":
    harness.main()
