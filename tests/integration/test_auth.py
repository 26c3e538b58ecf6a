"""Authentication and roles: the permission matrix, hashed keys, revocation."""

import secrets

import harness
from harness import (DaemonTestCase, assert_problem, db_dump, enroll, make_key,
                     member_token, parse_time, poll_until, q, unique_card)

API_ROLES = ("admin", "pos", "pos_s1", "app")
MEMBER_CREDS = ("member_self", "member_other")
GOOD_CREDS = API_ROLES + MEMBER_CREDS
BAD_CREDS = ("none", "basic", "bearer_empty", "bearer_space", "no_scheme", "token_scheme",
             "unknown", "revoked")

# (label, method, path template, body, roles allowed, success status)
# {id} is a fresh member per case, {kid} a fresh key per case, {card} the fresh member's card.
ROUTES = [
    ("list keys", "GET", "/v1/keys", None, {"admin"}, 200),
    ("create key", "POST", "/v1/keys", {"name": "matrix", "role": "app"}, {"admin"}, 201),
    ("revoke key", "DELETE", "/v1/keys/{kid}", None, {"admin"}, 204),
    ("enroll", "POST", "/v1/members", "enroll", {"admin", "pos", "pos_s1", "app"}, 201),
    ("look up", "GET", "/v1/members?card_number={card}", None,
     {"admin", "pos", "pos_s1", "app"}, 200),
    ("get member", "GET", "/v1/members/{id}", None, {"admin", "pos", "pos_s1", "app"}, 200),
    ("patch member", "PATCH", "/v1/members/{id}", {"name": "Patched"}, {"admin", "app"}, 200),
    ("delete member", "DELETE", "/v1/members/{id}", None, {"admin"}, 204),
    ("issue token", "POST", "/v1/members/{id}/tokens", {}, {"admin", "app"}, 201),
    ("revoke tokens", "DELETE", "/v1/members/{id}/tokens", None, {"admin", "app"}, 204),
    ("me", "GET", "/v1/me", None, {"member_self", "member_other"}, 200),
]
OPEN_ROUTES = ["/healthz", "/readyz", "/metrics"]


class AuthTest(DaemonTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        d = cls.daemon
        cls.keys = {"admin": d.admin_key,
                    "pos": make_key(d, "pos")["key"],
                    "pos_s1": make_key(d, "pos", store_id="S1")["key"],
                    "app": make_key(d, "app")["key"]}
        cls.other = enroll(d, name="Other Member")
        cls.other_token = member_token(d, cls.other["id"])["token"]
        revoked = make_key(d, "admin")
        r = d.request("DELETE", "/v1/keys/" + q(revoked["id"]))
        assert r.status == 204, r
        ok, _ = poll_until(lambda: d.request("GET", "/v1/keys",
                                             token=revoked["key"]).status == 401, 5.0)
        assert ok, "revoked key still accepted after 5 s"
        cls.revoked_key = revoked["key"]

    def auth_headers(self, cred, member_self_token):
        """(token, headers) for Daemon.request."""
        admin = self.daemon.admin_key
        if cred in API_ROLES:
            return self.keys[cred], None
        return {
            "member_self": (member_self_token, None),
            "member_other": (self.other_token, None),
            "none": (None, None),
            "basic": (None, {"Authorization": "Basic dXNlcjpwYXNzd29yZA=="}),
            "bearer_empty": (None, {"Authorization": "Bearer"}),
            "bearer_space": (None, {"Authorization": "Bearer "}),
            "no_scheme": (None, {"Authorization": admin}),
            "token_scheme": (None, {"Authorization": "Token " + admin}),
            "unknown": ("lk_unknown_" + secrets.token_hex(16), None),
            "revoked": (self.revoked_key, None),
        }[cred]

    def prepare(self, cred, path, body):
        """Fresh objects for one case; returns (path, body, member_self_token)."""
        d = self.daemon
        m = enroll(d, card_number=unique_card())
        mtok = member_token(d, m["id"])["token"] if cred == "member_self" else None
        if "{kid}" in path:
            path = path.replace("{kid}", q(make_key(d, "app")["id"]))
        path = path.replace("{id}", q(m["id"])).replace("{card}", q(m["card_number"]))
        if body == "enroll":
            body = {"name": "Matrix", "card_number": unique_card(), "store_id": "S1"}
        return path, body, mtok

    def test_matrix(self):
        for label, method, tmpl, body_t, allowed, ok_status in ROUTES:
            for cred in GOOD_CREDS + BAD_CREDS:
                with self.subTest(route=label, cred=cred):
                    path, body, mtok = self.prepare(cred, tmpl, body_t)
                    token, headers = self.auth_headers(cred, mtok)
                    before = None if cred in allowed else self.fingerprint()
                    r = self.req(method, path, body, token=token, headers=headers)
                    if cred in allowed:
                        self.assertEqual(r.status, ok_status,
                                         "%s %s as %s: %r" % (method, path, cred, r))
                        continue
                    if cred in BAD_CREDS:
                        assert_problem(self, r, 401, "unauthorized")
                        self.assertTrue(
                            r.headers.get("WWW-Authenticate", "").lower().startswith("bearer"),
                            "WWW-Authenticate %r" % r.headers.get("WWW-Authenticate"))
                    else:
                        assert_problem(self, r, 403, "forbidden")
                    self.assertEqual(self.fingerprint(), before,
                                     "%s %s as %s changed the database" % (method, path, cred))

    def test_open_routes(self):
        for path in OPEN_ROUTES:
            for cred in GOOD_CREDS + BAD_CREDS:
                with self.subTest(path=path, cred=cred):
                    mtok = self.other_token
                    token, headers = self.auth_headers(cred, mtok)
                    r = self.req("GET", path, token=token, headers=headers)
                    self.assertEqual(r.status, 200, r)

    def test_unknown_path_is_404_for_everyone(self):
        for cred in GOOD_CREDS + BAD_CREDS:
            with self.subTest(cred=cred):
                token, headers = self.auth_headers(cred, self.other_token)
                r = self.req("GET", "/v1/definitely-not-a-route", token=token, headers=headers)
                assert_problem(self, r, 404, "not_found")

    def test_pos_store_binding(self):
        before = self.fingerprint()
        r = self.req("POST", "/v1/members", {"name": "Wrong store", "store_id": "S2"},
                     token=self.keys["pos_s1"])
        assert_problem(self, r, 403, "forbidden")
        self.assertEqual(self.fingerprint(), before)
        r = self.req("POST", "/v1/members", {"name": "Right store", "store_id": "S1"},
                     token=self.keys["pos_s1"])
        self.assertEqual(r.status, 201, r)
        r = self.req("POST", "/v1/members", {"name": "Any store", "store_id": "S2"},
                     token=self.keys["pos"])
        self.assertEqual(r.status, 201, r)

    def test_key_response_shape(self):
        r = self.req("POST", "/v1/keys", {"name": "shape", "role": "pos", "store_id": "S9"})
        self.assertEqual(r.status, 201, r)
        k = r.json()
        for f in ("id", "key", "name", "role", "store_id", "created_at"):
            self.assertIn(f, k)
        self.assertEqual((k["name"], k["role"], k["store_id"]), ("shape", "pos", "S9"))
        parse_time(k["created_at"])
        k2 = make_key(self.daemon, "app")
        self.assertIsNone(k2["store_id"])
        self.assertNotEqual(k["key"], k2["key"])
        self.assertNotEqual(k["id"], k2["id"])
        # the new key works at once
        r = self.req("GET", "/v1/members?card_number=123456", token=k["key"])
        self.assertEqual(r.status, 200, r)

    def test_keys_stored_hashed(self):
        created = [make_key(self.daemon, role) for role in ("admin", "pos", "app")]
        created.append(make_key(self.daemon, "pos", store_id="S1"))
        listing = self.req("GET", "/v1/keys")
        self.assertEqual(listing.status, 200, listing)
        ids = {k.get("id") for k in listing.json()["items"]}
        dump = db_dump(self.cluster, self.db)
        for k in created:
            self.assertIn(k["id"], ids)
            for secret in (k["key"], k["key"][-16:]):
                self.assertNotIn(secret, dump, "plaintext key in the database")
                self.assertNotIn(secret.encode(), listing.body, "plaintext key in GET /v1/keys")
        for secret in (self.daemon.admin_key, self.daemon.admin_key[-16:]):
            self.assertNotIn(secret, dump, "plaintext admin key in the database")
            self.assertNotIn(secret.encode(), listing.body)

    def test_member_tokens_stored_hashed(self):
        m = enroll(self.daemon)
        tok = member_token(self.daemon, m["id"])["token"]
        dump = db_dump(self.cluster, self.db)
        for secret in (tok, tok[-16:]):
            self.assertNotIn(secret, dump, "plaintext member token in the database")

    def test_revocation_within_1s(self):
        k = make_key(self.daemon, "pos")
        for _ in range(3):  # warm any cache
            self.assertEqual(self.req("GET", "/v1/members?card_number=123456",
                                      token=k["key"]).status, 200)
        r = self.req("DELETE", "/v1/keys/" + q(k["id"]))
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.body, b"")
        ok, took = poll_until(lambda: self.req("GET", "/v1/members?card_number=123456",
                                               token=k["key"]).status == 401, 1.0)
        self.assertTrue(ok, "revoked key still accepted after %.2f s" % took)
        for _ in range(5):
            r = self.req("GET", "/v1/members?card_number=123456", token=k["key"])
            assert_problem(self, r, 401, "unauthorized")

    def test_revoke_unknown_key(self):
        k = make_key(self.daemon, "app")
        before = self.fingerprint()
        r = self.req("DELETE", "/v1/keys/" + q(harness.absent_id_like(k["id"])))
        assert_problem(self, r, 404, "not_found")
        self.assertEqual(self.fingerprint(), before)
        self.assertEqual(self.req("GET", "/v1/members?card_number=1234567",
                                  token=k["key"]).status, 200)


if __name__ == "__main__":
    harness.main()
