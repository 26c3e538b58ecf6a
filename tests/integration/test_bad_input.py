"""Bad requests, data-driven: every rejected request gets its exact status and
problem code and leaves the database exactly as it was."""

import http.client
import json

import harness
from harness import Daemon, DaemonTestCase, assert_problem, db_fingerprint, enroll, make_key, q

BIG = b"99999999999999999999999"


def J(value):
    """A JSON body."""
    return ("json", value)


def R(data):
    """Raw bytes as the body."""
    return ("raw", data)


def field_named(doc, field):
    for f in harness.error_fields(doc):
        if isinstance(f, str) and (f == field or f.endswith("." + field) or
                                   f.endswith("/" + field) or f.endswith("['%s']" % field)):
            return True
    return False


# Cases shared by every target: (label, payload, status, code or (codes...), field)
def common_cases(valid, string_field):
    """`valid` is a valid body of the target, `string_field` one of its string fields
    (or None)."""
    out = [
        ("truncated JSON", R(b'{"name": '), 400, "malformed_json", None),
        ("unquoted key", R(b'{name: "x"}'), 400, "malformed_json", None),
        ("trailing comma", R(b'{"a": 1,}'), 400, "malformed_json", None),
        ("trailing garbage", R(json.dumps(valid).encode() + b" x"), 400, "malformed_json", None),
        ("two documents", R(json.dumps(valid).encode() * 2), 400, "malformed_json", None),
        ("single quotes", R(b"{'name': 'x'}"), 400, "malformed_json", None),
        ("top-level array", R(b"[]"), 400, "validation_failed", None),
        ("top-level string", R(b'"x"'), 400, "validation_failed", None),
        ("top-level null", R(b"null"), 400, "validation_failed", None),
        ("top-level number", R(b"42"), 400, "validation_failed", None),
        ("unknown field", J(dict(valid, nickname="x")), 400, "validation_failed", "nickname"),
        ("unknown field, null", J(dict(valid, zzz_extra=None)), 400, "validation_failed",
         "zzz_extra"),
        ("invalid UTF-8 in a key", R(b'{"x\xff": 1}'), 400, "malformed_json", None),
        ("NaN", R(b'{"x": NaN}'), 400, "malformed_json", None),
    ]
    if string_field:
        sf = string_field.encode()
        out += [
            ("invalid UTF-8 in a string", R(b'{"' + sf + b'": "ab\xff\xfecd"}'), 400,
             "malformed_json", None),
            ("overlong UTF-8", R(b'{"' + sf + b'": "a\xc0\xafb"}'), 400, "malformed_json", None),
            ("UTF-8 encoded surrogate", R(b'{"' + sf + b'": "a\xed\xa0\x80b"}'), 400,
             "malformed_json", None),
            ("truncated UTF-8", R(b'{"' + sf + b'": "a\xe7\x8e"}'), 400, "malformed_json", None),
            ("raw control character", R(b'{"' + sf + b'": "a\x01b"}'), 400, "malformed_json",
             None),
            ("raw newline in a string", R(b'{"' + sf + b'": "a\nb"}'), 400, "malformed_json",
             None),
            ("escaped NUL", R(b'{"' + sf + b'": "a\\u0000b"}'), 400,
             ("malformed_json", "validation_failed"), None),
            ("lone surrogate escape", R(b'{"' + sf + b'": "a\\ud800b"}'), 400,
             ("malformed_json", "validation_failed"), None),
            ("1e30 for a string", J(dict(valid, **{string_field: 1e30})), 400,
             "validation_failed", string_field),
            ("huge integer for a string", R(b'{"' + sf + b'": ' + BIG + b"}"), 400,
             "validation_failed", string_field),
        ]
    return out


def member_cases():
    v = {"name": "Valid Name"}
    c = common_cases(v, "name")
    c += [
        ("empty body", R(b""), 400, "malformed_json", None),
        ("whitespace body", R(b"  \n"), 400, "malformed_json", None),
        ("missing name", J({}), 400, "validation_failed", "name"),
        ("missing name, other fields", J({"phone": "+8613800000000"}), 400, "validation_failed",
         "name"),
        ("name null", J({"name": None}), 400, "validation_failed", "name"),
        ("name number", J({"name": 123}), 400, "validation_failed", "name"),
        ("name float", J({"name": 1.5}), 400, "validation_failed", "name"),
        ("name bool", J({"name": True}), 400, "validation_failed", "name"),
        ("name array", J({"name": ["a"]}), 400, "validation_failed", "name"),
        ("name object", J({"name": {"first": "a"}}), 400, "validation_failed", "name"),
        ("name empty", J({"name": ""}), 400, "validation_failed", "name"),
        ("name 101 chars", J({"name": "a" * 101}), 400, "validation_failed", "name"),
        ("name 101 CJK chars", J({"name": "王" * 101}), 400, "validation_failed", "name"),
        ("name with escaped control char", J({"name": "a\u0007b"}), 400, "validation_failed",
         "name"),
        ("name with escaped newline", J({"name": "a\nb"}), 400, "validation_failed", "name"),
        ("phone number type", J(dict(v, phone=13800000000)), 400, "validation_failed", "phone"),
        ("phone 4 digits", J(dict(v, phone="1234")), 400, "validation_failed", "phone"),
        ("phone 21 digits", J(dict(v, phone="1" * 21)), 400, "validation_failed", "phone"),
        ("phone letters", J(dict(v, phone="12ab34567")), 400, "validation_failed", "phone"),
        ("phone two plus", J(dict(v, phone="++8613800000000")), 400, "validation_failed",
         "phone"),
        ("phone plus inside", J(dict(v, phone="86+13800000000")), 400, "validation_failed",
         "phone"),
        ("phone empty", J(dict(v, phone="")), 400, "validation_failed", "phone"),
        ("phone 1e30", J(dict(v, phone=1e30)), 400, "validation_failed", "phone"),
        ("email number", J(dict(v, email=5)), 400, "validation_failed", "email"),
        ("email no at", J(dict(v, email="no-at.example.com")), 400, "validation_failed",
         "email"),
        ("email two at", J(dict(v, email="a@b@example.com")), 400, "validation_failed",
         "email"),
        ("email double at", J(dict(v, email="a@@example.com")), 400, "validation_failed",
         "email"),
        ("email empty", J(dict(v, email="")), 400, "validation_failed", "email"),
        ("birthday number", J(dict(v, birthday=19900101)), 400, "validation_failed",
         "birthday"),
        ("birthday 2023-02-29", J(dict(v, birthday="2023-02-29")), 400, "validation_failed",
         "birthday"),
        ("birthday month 13", J(dict(v, birthday="1990-13-01")), 400, "validation_failed",
         "birthday"),
        ("birthday day 0", J(dict(v, birthday="1990-01-00")), 400, "validation_failed",
         "birthday"),
        ("birthday April 31", J(dict(v, birthday="1990-04-31")), 400, "validation_failed",
         "birthday"),
        ("birthday short", J(dict(v, birthday="90-01-01")), 400, "validation_failed",
         "birthday"),
        ("birthday slashes", J(dict(v, birthday="1990/01/01")), 400, "validation_failed",
         "birthday"),
        ("birthday timestamp", J(dict(v, birthday="1990-01-01T00:00:00Z")), 400,
         "validation_failed", "birthday"),
        ("birthday future", J(dict(v, birthday="2999-01-01")), 400, "validation_failed",
         "birthday"),
        ("card number type", J(dict(v, card_number=12345678)), 400, "validation_failed",
         "card_number"),
        ("card 5 digits", J(dict(v, card_number="12345")), 400, "validation_failed",
         "card_number"),
        ("card 33 digits", J(dict(v, card_number="1" * 33)), 400, "validation_failed",
         "card_number"),
        ("card letters", J(dict(v, card_number="12345a78")), 400, "validation_failed",
         "card_number"),
        ("card spaces", J(dict(v, card_number="1234 5678")), 400, "validation_failed",
         "card_number"),
        ("card empty", J(dict(v, card_number="")), 400, "validation_failed", "card_number"),
        ("card huge integer", R(b'{"name": "x", "card_number": ' + BIG + b"}"), 400,
         "validation_failed", "card_number"),
        ("referral code type", J(dict(v, referral_code=1)), 400, "validation_failed",
         "referral_code"),
        ("referral code unknown", J(dict(v, referral_code="NOPE-NOPE")), 400,
         "validation_failed", None),
        ("store id type", J(dict(v, store_id=1)), 400, "validation_failed", "store_id"),
        ("status is not enrollable", J(dict(v, status="active")), 400, "validation_failed",
         "status"),
        ("id is not settable", J(dict(v, id="abc")), 400, "validation_failed", "id"),
        ("points are not settable", J(dict(v, points_balance=100)), 400, "validation_failed",
         "points_balance"),
    ]
    return c


def patch_cases():
    v = {"name": "Patched"}
    c = common_cases(v, "name")
    c += [
        ("empty body", R(b""), 400, "malformed_json", None),
        ("name null", J({"name": None}), 400, "validation_failed", "name"),
        ("name number", J({"name": 1}), 400, "validation_failed", "name"),
        ("name empty", J({"name": ""}), 400, "validation_failed", "name"),
        ("name 101 chars", J({"name": "b" * 101}), 400, "validation_failed", "name"),
        ("phone array", J({"phone": ["1"]}), 400, "validation_failed", "phone"),
        ("phone 4 digits", J({"phone": "1234"}), 400, "validation_failed", "phone"),
        ("email object", J({"email": {}}), 400, "validation_failed", "email"),
        ("email bad", J({"email": "bad"}), 400, "validation_failed", "email"),
        ("birthday bool", J({"birthday": False}), 400, "validation_failed", "birthday"),
        ("birthday 2023-02-29", J({"birthday": "2023-02-29"}), 400, "validation_failed",
         "birthday"),
        ("birthday future", J({"birthday": "2999-12-31"}), 400, "validation_failed",
         "birthday"),
        ("status number", J({"status": 1}), 400, "validation_failed", "status"),
        ("status closed", J({"status": "closed"}), 400, "validation_failed", "status"),
        ("status unknown", J({"status": "deleted"}), 400, "validation_failed", "status"),
        ("status upper case", J({"status": "ACTIVE"}), 400, "validation_failed", "status"),
        ("tier not patchable", J({"tier": "gold"}), 400, "validation_failed", "tier"),
        ("balance not patchable", J({"points_balance": 5}), 400, "validation_failed",
         "points_balance"),
        ("card not patchable", J({"card_number": "12345678"}), 400, "validation_failed",
         "card_number"),
        ("valid and bad together", J({"name": "ok", "phone": "12"}), 400, "validation_failed",
         "phone"),
    ]
    return c


def key_cases():
    v = {"name": "k1", "role": "pos"}
    c = common_cases(v, "name")
    c += [
        ("empty body", R(b""), 400, "malformed_json", None),
        ("missing role", J({"name": "k"}), 400, "validation_failed", "role"),
        ("missing name", J({"role": "pos"}), 400, "validation_failed", "name"),
        ("empty object", J({}), 400, "validation_failed", None),
        ("role unknown", J({"name": "k", "role": "root"}), 400, "validation_failed", "role"),
        ("role member", J({"name": "k", "role": "member"}), 400, "validation_failed", "role"),
        ("role upper case", J({"name": "k", "role": "ADMIN"}), 400, "validation_failed", "role"),
        ("role number", J({"name": "k", "role": 1}), 400, "validation_failed", "role"),
        ("role null", J({"name": "k", "role": None}), 400, "validation_failed", "role"),
        ("name number", J({"name": 7, "role": "app"}), 400, "validation_failed", "name"),
        ("name empty", J({"name": "", "role": "app"}), 400, "validation_failed", "name"),
        ("store id number", J({"name": "k", "role": "pos", "store_id": 1}), 400,
         "validation_failed", "store_id"),
        ("store id array", J({"name": "k", "role": "pos", "store_id": []}), 400,
         "validation_failed", "store_id"),
        ("client-chosen key", J({"name": "k", "role": "pos", "key": "lk_mine"}), 400,
         "validation_failed", "key"),
    ]
    return c


def token_cases():
    c = common_cases({}, None)
    c += [
        ("ttl string", J({"ttl_seconds": "3600"}), 400, "validation_failed", "ttl_seconds"),
        ("ttl fraction", J({"ttl_seconds": 3600.5}), 400, "validation_failed", "ttl_seconds"),
        ("ttl bool", J({"ttl_seconds": True}), 400, "validation_failed", "ttl_seconds"),
        ("ttl array", J({"ttl_seconds": [3600]}), 400, "validation_failed", "ttl_seconds"),
        ("ttl 59", J({"ttl_seconds": 59}), 400, "validation_failed", "ttl_seconds"),
        ("ttl 2592001", J({"ttl_seconds": 2592001}), 400, "validation_failed", "ttl_seconds"),
        ("ttl 0", J({"ttl_seconds": 0}), 400, "validation_failed", "ttl_seconds"),
        ("ttl negative", J({"ttl_seconds": -5}), 400, "validation_failed", "ttl_seconds"),
        ("ttl 1e30", J({"ttl_seconds": 1e30}), 400, "validation_failed", "ttl_seconds"),
        ("ttl huge integer", R(b'{"ttl_seconds": ' + BIG + b"}"), 400, "validation_failed",
         "ttl_seconds"),
        ("ttl int64 overflow", R(b'{"ttl_seconds": 9223372036854775808}'), 400,
         "validation_failed", "ttl_seconds"),
        ("unknown field", J({"scope": "all"}), 400, "validation_failed", "scope"),
    ]
    return c


class BadInputTest(DaemonTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.member = enroll(cls.daemon, name="Target Member", phone=harness.unique_phone(),
                            email=harness.unique_email())
        cls.mpath = "/v1/members/" + q(cls.member["id"])

    def run_cases(self, method, path, cases, daemon=None):
        d = daemon or self.daemon
        for label, (kind, payload), status, code, field in cases:
            with self.subTest(case=label):
                before = self.fingerprint()
                if kind == "json":
                    r = d.request(method, path, payload)
                else:
                    r = d.request(method, path, raw=payload)
                codes = code if isinstance(code, tuple) else (code,)
                self.assertEqual(r.status, status, "%s: %r" % (label, r))
                try:
                    got = r.json().get("code")
                except (ValueError, AttributeError):
                    got = None
                doc = assert_problem(self, r, status, got if got in codes else codes[0])
                if field is not None:
                    self.assertTrue(field_named(doc, field),
                                    "%s: errors[].field does not name %r: %r"
                                    % (label, field, doc))
                self.assertEqual(self.fingerprint(), before, "%s changed the database" % label)

    def test_enroll_bad_bodies(self):
        self.run_cases("POST", "/v1/members", member_cases())

    def test_patch_bad_bodies(self):
        self.run_cases("PATCH", self.mpath, patch_cases())
        r = self.req("GET", self.mpath)
        self.assertEqual(r.json(), self.member)

    def test_key_bad_bodies(self):
        self.run_cases("POST", "/v1/keys", key_cases())

    def test_token_bad_bodies(self):
        self.run_cases("POST", self.mpath + "/tokens", token_cases())

    def test_boundaries_accepted(self):
        m = enroll(self.daemon, name="a" * 100)
        self.assertEqual(m["name"], "a" * 100)
        m = enroll(self.daemon, name="x", phone="12345", email="a@b",
                   card_number="1" * 6 + str(harness.unique_int()).zfill(6))
        self.assertEqual(m["phone"], "12345")
        m = enroll(self.daemon, name="y", phone="+" + "2" * 20,
                   card_number="3" * 20 + str(harness.unique_int()).zfill(12))
        self.assertEqual(m["phone"], "+" + "2" * 20)
        self.assertEqual(len(m["card_number"]), 32)
        m = enroll(self.daemon, name="z", birthday="2000-02-29")
        self.assertEqual(m["birthday"], "2000-02-29")
        r = self.req("PATCH", "/v1/members/" + q(m["id"]), {"name": "b" * 100})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["name"], "b" * 100)
        r = self.req("POST", "/v1/members", {"name": "charset"},
                     headers={"Content-Type": "application/json; charset=utf-8"})
        self.assertEqual(r.status, 201, r)

    def test_sql_looking_strings_stored_literally(self):
        names = ["Robert'); DROP TABLE members;--", "x' OR '1'='1", "\\'; SELECT pg_sleep(5);--",
                 "$1 %s %d ${name} \\x00", "\"quoted\" \\ backslash"]
        for name in names:
            with self.subTest(name=name):
                m = enroll(self.daemon, name=name)
                self.assertEqual(m["name"], name)
                g = self.req("GET", "/v1/members/" + q(m["id"]))
                self.assertEqual(g.json()["name"], name)
        email = "o'brien%d@example.com" % harness.unique_int()
        m = enroll(self.daemon, name="O'Brien", email=email)
        r = self.req("GET", "/v1/members?email=" + q(email))
        self.assertEqual([x["id"] for x in r.json()["items"]], [m["id"]])
        r = self.req("GET", "/v1/members?email=" + q("x' OR '1'='1@x"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["items"], [])
        self.assertEqual(self.psql("SELECT count(*) > 0 FROM members;").strip(), "t")

    def test_unsupported_media_type(self):
        cases = [("POST", "/v1/members", {"name": "x"}), ("PATCH", self.mpath, {"name": "x"}),
                 ("POST", "/v1/keys", {"name": "k", "role": "pos"}),
                 ("POST", self.mpath + "/tokens", {})]
        for method, path, body in cases:
            for ctype in ("text/plain", "application/x-www-form-urlencoded",
                          "multipart/form-data; boundary=x", "application/jsonx", None):
                with self.subTest(method=method, path=path, ctype=ctype):
                    before = self.fingerprint()
                    r = self.req(method, path, body, headers={"Content-Type": ctype})
                    assert_problem(self, r, 415, "unsupported_media_type")
                    self.assertEqual(self.fingerprint(), before)
            with self.subTest(method=method, path=path, ctype="text/plain, malformed"):
                r = self.req(method, path, raw=b"{not json",
                             headers={"Content-Type": "text/plain"})
                assert_problem(self, r, 415, "unsupported_media_type")
            with self.subTest(method=method, path=path, ctype="no token first"):
                r = self.req(method, path, body, token=None,
                             headers={"Content-Type": "text/plain"})
                assert_problem(self, r, 401, "unauthorized")

    def test_default_body_limit(self):
        limit = 1024 * 1024
        before = self.fingerprint()
        over = b'{"name": "x"}' + b" " * (limit + 1 - 13)
        self.assertEqual(len(over), limit + 1)
        r = self.post_big(self.daemon, over)
        assert_problem(self, r, 413, "payload_too_large")
        self.assertEqual(self.fingerprint(), before)
        head = b'{"name": "exactly 1 MiB"}'
        exact = head + b" " * (limit - len(head))
        self.assertEqual(len(exact), limit)
        r = self.post_big(self.daemon, exact)
        self.assertEqual(r.status, 201, r)

    def post_big(self, d, raw, chunked=False, token=harness.ADMIN, path="/v1/members"):
        try:
            return d.request("POST", path, raw=raw, chunked=chunked, token=token)
        except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected) as e:
            self.fail("connection dropped instead of an answer (%d-byte body, chunked=%s): %r"
                      % (len(raw), chunked, e))

    def test_methods_not_allowed(self):
        mid = q(self.member["id"])
        cases = [("PUT", "/v1/members", {"GET", "POST"}),
                 ("DELETE", "/v1/members", {"GET", "POST"}),
                 ("PATCH", "/v1/members", {"GET", "POST"}),
                 ("POST", "/v1/members/" + mid, {"GET", "PATCH", "DELETE"}),
                 ("PUT", "/v1/members/" + mid, {"GET", "PATCH", "DELETE"}),
                 ("GET", "/v1/members/%s/tokens" % mid, {"POST", "DELETE"}),
                 ("PATCH", "/v1/members/%s/tokens" % mid, {"POST", "DELETE"}),
                 ("GET", "/v1/keys/abc", {"DELETE"}),
                 ("PUT", "/v1/keys", {"GET", "POST"}),
                 ("DELETE", "/v1/keys", {"GET", "POST"}),
                 ("POST", "/v1/me", {"GET"}),
                 ("DELETE", "/v1/me", {"GET"}),
                 ("POST", "/healthz", {"GET"}),
                 ("DELETE", "/readyz", {"GET"}),
                 ("POST", "/metrics", {"GET"})]
        for method, path, allow in cases:
            for token in (harness.ADMIN, None):
                with self.subTest(method=method, path=path, token=token is not None):
                    before = self.fingerprint()
                    body = {"name": "x"} if method in ("POST", "PUT", "PATCH") else None
                    r = self.req(method, path, body, token=token)
                    assert_problem(self, r, 405, "method_not_allowed")
                    got = {m.strip().upper() for m in r.headers.get("Allow", "").split(",")
                           if m.strip()}
                    self.assertTrue(allow <= got, "Allow %r lacks %r" % (got, allow - got))
                    self.assertNotIn(method, got)
                    self.assertEqual(self.fingerprint(), before)

    def test_unknown_paths(self):
        # An encoded NUL must not cut a path short into a known one.
        for path in ("/v1/nope", "/v1/members/%s/nope" % q(self.member["id"]), "/v2/members",
                     "/", "/v1", "/v1/members/a/b/c", "/healthz/x", "/healthz%00",
                     "/v1/members/%s%%00x" % q(self.member["id"]), "/admin/app.js%00"):
            for token in (harness.ADMIN, None, "bogus"):
                with self.subTest(path=path, token=token):
                    r = self.req("GET", path, token=token)
                    assert_problem(self, r, 404, "not_found")


class BodyLimitTest(DaemonTestCase):
    """A daemon with --body-limit 1024."""

    daemon_args = ("--body-limit", "1024")

    def post(self, raw, chunked=False, token=harness.ADMIN, path="/v1/members"):
        try:
            return self.daemon.request("POST", path, raw=raw, chunked=chunked, token=token)
        except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected) as e:
            self.fail("connection dropped instead of an answer (%d-byte body, chunked=%s): %r"
                      % (len(raw), chunked, e))

    def test_over_limit(self):
        good = b'{"name": "small"}'
        for size in (1025, 2000, 64 * 1024):
            body = good + b" " * (size - len(good))
            for chunked in (False, True):
                with self.subTest(size=size, chunked=chunked):
                    before = self.fingerprint()
                    r = self.post(body, chunked)
                    assert_problem(self, r, 413, "payload_too_large")
                    self.assertEqual(self.fingerprint(), before)
        with self.subTest("malformed and too large: 413 first"):
            r = self.post(b"{" * 3000)
            assert_problem(self, r, 413, "payload_too_large")
        with self.subTest("too large without token: 401 first"):
            r = self.post(good + b" " * 3000, token=None)
            assert_problem(self, r, 401, "unauthorized")
        with self.subTest("far too large, a credential not yet cached"):
            # Its look-up holds the request; the 413 still goes out before
            # the body is read, as for a cached credential.
            key = make_key(self.daemon, "admin")["key"]
            before = self.fingerprint()
            r = self.post(good + b" " * (64 * 1024), token=key)
            assert_problem(self, r, 413, "payload_too_large")
            self.assertEqual(self.fingerprint(), before)
        with self.subTest("far too large, an unknown credential: 401 first"):
            r = self.post(good + b" " * (64 * 1024), token="lk_unknown_" + "x" * 40)
            assert_problem(self, r, 401, "unauthorized")
        with self.subTest("other routes"):
            m = enroll(self.daemon)
            for path in ("/v1/keys", "/v1/members/%s/tokens" % q(m["id"])):
                before = self.fingerprint()
                r = self.post(b"{}" + b" " * 2000, path=path)
                assert_problem(self, r, 413, "payload_too_large")
                r = self.daemon.request("PATCH", "/v1/members/" + q(m["id"]),
                                        raw=b'{"name": "p"}' + b" " * 2000)
                assert_problem(self, r, 413, "payload_too_large")
                self.assertEqual(self.fingerprint(), before)

    def test_at_limit_accepted(self):
        for chunked in (False, True):
            with self.subTest(chunked=chunked):
                good = b'{"name": "exactly 1024"}'
                body = good + b" " * (1024 - len(good))
                self.assertEqual(len(body), 1024)
                r = self.post(body, chunked)
                self.assertEqual(r.status, 201, r)

    def test_still_serves_after_413(self):
        r = self.post(b'{"name": "x"}' + b" " * 5000)
        assert_problem(self, r, 413, "payload_too_large")
        m = enroll(self.daemon, name="after")
        self.assertEqual(m["name"], "after")

    def test_large_headers_accepted(self):
        """Headers of 12 KB in all (a long cookie or trace header from a
        proxy) still fit each connection's 16 KiB of MHD memory: the body
        that follows them is read and the request answered."""
        r = self.daemon.request("POST", "/v1/members", {"name": "headers"},
                                headers={"X-Padding": "p" * 12000})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["name"], "headers")


if __name__ == "__main__":
    harness.main()
