"""Two daemons on one database: keys, revocations and members are shared."""

import harness
from harness import TwoDaemonsTestCase, assert_problem, enroll, make_key, member_token, q

LOOKUP = "/v1/members?card_number=123456"


class TwoDaemonsTest(TwoDaemonsTestCase):

    def assert_revoked_within(self, d, path, token, limit=1.0):
        """Polls d until `token` gets 401 on `path`; fails when it takes over `limit` s."""
        ok, took = harness.poll_until(
            lambda: d.request("GET", path, token=token).status == 401, limit)
        self.assertTrue(ok, "still accepted %.2f s after revocation" % took)
        self.assertLessEqual(took, limit)
        assert_problem(self, d.request("GET", path, token=token), 401, "unauthorized")

    def test_key_created_on_a_works_on_b(self):
        k = make_key(self.a, "pos", store_id="S1")
        r = self.b.request("GET", LOOKUP, token=k["key"])
        self.assertEqual(r.status, 200, r)
        r = self.b.request("POST", "/v1/members", {"name": "via B", "store_id": "S2"},
                           token=k["key"])
        assert_problem(self, r, 403, "forbidden")  # the store binding travels too

    def test_key_revoked_on_a_fails_on_b(self):
        k = make_key(self.a, "app")
        for d in (self.a, self.b, self.b):  # warm both caches
            self.assertEqual(d.request("GET", LOOKUP, token=k["key"]).status, 200)
        r = self.a.request("DELETE", "/v1/keys/" + q(k["id"]))
        self.assertEqual(r.status, 204, r)
        self.assert_revoked_within(self.b, LOOKUP, k["key"])
        self.assert_revoked_within(self.a, LOOKUP, k["key"])

    def test_key_revoked_on_b_fails_on_a(self):
        k = make_key(self.b, "pos")
        for d in (self.a, self.b, self.a):
            self.assertEqual(d.request("GET", LOOKUP, token=k["key"]).status, 200)
        r = self.b.request("DELETE", "/v1/keys/" + q(k["id"]))
        self.assertEqual(r.status, 204, r)
        self.assert_revoked_within(self.a, LOOKUP, k["key"])

    def test_member_token_revoked_on_a_fails_on_b(self):
        m = enroll(self.a)
        tok = member_token(self.a, m["id"])["token"]
        for d in (self.b, self.a, self.b):
            r = d.request("GET", "/v1/me", token=tok)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["id"], m["id"])
        r = self.a.request("DELETE", "/v1/members/%s/tokens" % q(m["id"]))
        self.assertEqual(r.status, 204, r)
        self.assert_revoked_within(self.b, "/v1/me", tok)

    def test_member_deleted_on_a_token_fails_on_b(self):
        m = enroll(self.a)
        tok = member_token(self.b, m["id"])["token"]
        self.assertEqual(self.b.request("GET", "/v1/me", token=tok).status, 200)
        r = self.a.request("DELETE", "/v1/members/" + q(m["id"]))
        self.assertEqual(r.status, 204, r)
        self.assert_revoked_within(self.b, "/v1/me", tok)

    def test_member_enrolled_on_a_visible_on_b(self):
        m = enroll(self.a, name="王小明", card_number=harness.unique_card(),
                   email=harness.unique_email())
        r = self.b.request("GET", "/v1/members/" + q(m["id"]))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), m)
        r = self.b.request("GET", "/v1/members?email=" + q(m["email"].upper()))
        self.assertEqual([x["id"] for x in r.json()["items"]], [m["id"]])
        r = self.b.request("PATCH", "/v1/members/" + q(m["id"]), {"name": "B changed"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.a.request("GET", "/v1/members/" + q(m["id"])).json()["name"],
                         "B changed")
        # uniqueness holds across daemons
        r = self.b.request("POST", "/v1/members", {"name": "dup", "card_number": m["card_number"]})
        assert_problem(self, r, 409, "conflict")


if __name__ == "__main__":
    harness.main()
