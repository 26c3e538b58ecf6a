"""Members: enroll, look-ups, uniqueness, PATCH, DELETE (erasure), referrals, member tokens."""

import datetime
import re

import harness
from harness import (MEMBER_KEYS, DaemonTestCase, assert_problem, enroll, member_token,
                     parse_time, poll_until, q, unique_card, unique_email, unique_phone)


other_id_like = harness.absent_id_like


class MembersTest(DaemonTestCase):

    def assert_member(self, m):
        self.assertIsInstance(m, dict)
        for k in MEMBER_KEYS:
            self.assertIn(k, m, "member lacks %r: %r" % (k, m))
        self.assertIsInstance(m["id"], str)
        self.assertTrue(m["id"])
        self.assertIn(m["status"], ("active", "suspended", "closed"))
        self.assertIsInstance(m["points_balance"], int)
        parse_time(m["enrolled_at"])
        parse_time(m["updated_at"])

    def get(self, mid, **kw):
        return self.req("GET", "/v1/members/" + q(mid), **kw)

    def lookup(self, **params):
        qs = "&".join("%s=%s" % (k, q(v)) for k, v in params.items())
        return self.req("GET", "/v1/members" + ("?" + qs if qs else ""))

    # ---------------------------------------------------------------- enroll

    def test_enroll_every_field(self):
        body = {"name": "Alice Example", "phone": "+86 139-1234-%04d" % (harness.unique_int()
                                                                          % 10000),
                "email": unique_email(), "birthday": "1990-05-17", "card_number": unique_card()}
        r = self.req("POST", "/v1/members", body)
        self.assertEqual(r.status, 201, r)
        self.assertTrue(r.headers.get("Content-Type", "").startswith("application/json"))
        m = r.json()
        self.assert_member(m)
        self.assertEqual(m["name"], body["name"])
        self.assertEqual(m["phone"], re.sub(r"[ -]", "", body["phone"]))
        self.assertEqual(m["email"].lower(), body["email"].lower())
        self.assertEqual(m["birthday"], "1990-05-17")
        self.assertEqual(m["card_number"], body["card_number"])
        self.assertEqual(m["status"], "active")
        self.assertEqual(m["tier"], "basic")
        self.assertEqual(m["points_balance"], 0)
        self.assertIsNone(m["referred_by"])
        self.assertIsInstance(m["referral_code"], str)
        self.assertTrue(m["referral_code"])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.assertLess(abs((parse_time(m["enrolled_at"]) - now).total_seconds()), 60)
        g = self.get(m["id"])
        self.assertEqual(g.status, 200, g)
        self.assertEqual(g.json(), m)

    def test_enroll_minimal_generates_card(self):
        m = enroll(self.daemon, name="Bob")
        self.assert_member(m)
        self.assertRegex(m["card_number"], r"^[0-9]{6,32}$")
        for k in ("phone", "email", "birthday"):
            self.assertIsNone(m[k])
        m2 = enroll(self.daemon, name="Bob")
        self.assertNotEqual(m["card_number"], m2["card_number"])
        self.assertNotEqual(m["id"], m2["id"])
        self.assertNotEqual(m["referral_code"], m2["referral_code"])

    def test_unicode_names_round_trip_bytes(self):
        for name in ("王小明", "Emoji 😀 名字", "𠜎𠜱𠝹", "Zoë Ünïcödé"):
            r = self.req("POST", "/v1/members", {"name": name})
            self.assertEqual(r.status, 201, r)
            raw = name.encode("utf-8")
            self.assertIn(raw, r.body, "name not sent back as raw UTF-8: %r" % r.body)
            m = r.json()
            self.assertEqual(m["name"], name)
            g = self.get(m["id"])
            self.assertIn(raw, g.body)
            self.assertEqual(g.json()["name"], name)

    def test_name_length_in_code_points(self):
        m = enroll(self.daemon, name="王" * 100)  # 300 bytes, 100 code points: fine
        self.assertEqual(m["name"], "王" * 100)
        m = enroll(self.daemon, name="😀" * 100)  # 400 bytes
        self.assertEqual(m["name"], "😀" * 100)
        before = self.fingerprint()
        r = self.req("POST", "/v1/members", {"name": "王" * 101})
        doc = assert_problem(self, r, 400, "validation_failed")
        self.assertIn("name", harness.error_fields(doc))
        self.assertEqual(self.fingerprint(), before)

    def test_get_unknown_member(self):
        m = enroll(self.daemon)
        for mid in (other_id_like(m["id"]), "nonexistent"):
            assert_problem(self, self.get(mid), 404, "not_found")

    # ---------------------------------------------------------------- look-ups

    def test_lookup_by_card(self):
        m = enroll(self.daemon, card_number=unique_card())
        r = self.lookup(card_number=m["card_number"])
        self.assertEqual(r.status, 200, r)
        doc = r.json()
        self.assertEqual([x["id"] for x in doc["items"]], [m["id"]])
        self.assertEqual(doc["items"][0], m)
        self.assertIn("next_cursor", doc)
        self.assertIsNone(doc["next_cursor"])

    def test_lookup_by_phone_normalised(self):
        n = harness.unique_int() % 10000
        m = enroll(self.daemon, phone="+86 137-0000-%04d" % n)
        self.assertEqual(m["phone"], "+861370000%04d" % n)
        for form in ("+861370000%04d" % n, "+86 137 0000 %04d" % n, "+86-137-0000-%04d" % n,
                     "+86 137-0000 %04d" % n):
            r = self.lookup(phone=form)
            self.assertEqual(r.status, 200, r)
            self.assertEqual([x["id"] for x in r.json()["items"]], [m["id"]], form)

    def test_lookup_by_email_case_insensitive(self):
        email = "Alice.%d@Example.COM" % harness.unique_int()
        m = enroll(self.daemon, email=email)
        for form in (email, email.lower(), email.upper()):
            r = self.lookup(email=form)
            self.assertEqual(r.status, 200, r)
            self.assertEqual([x["id"] for x in r.json()["items"]], [m["id"]], form)

    def test_lookup_no_match(self):
        for params in ({"card_number": "999999999999999999"},
                       {"phone": "+999 0000 0000"},
                       {"email": "nobody-%d@example.com" % harness.unique_int()}):
            r = self.lookup(**params)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["items"], [])
            self.assertIsNone(r.json()["next_cursor"])

    def test_lookup_needs_exactly_one_param(self):
        m = enroll(self.daemon, email=unique_email(), card_number=unique_card())
        assert_problem(self, self.req("GET", "/v1/members"), 400, "validation_failed")
        assert_problem(self, self.lookup(card_number=m["card_number"], email=m["email"]), 400,
                       "validation_failed")
        assert_problem(self, self.lookup(phone="+8613900000000", email="a@b.c"), 400,
                       "validation_failed")

    # ---------------------------------------------------------------- uniqueness

    def test_duplicates_conflict(self):
        n = harness.unique_int() % 10000
        card, email = unique_card(), "Dup.%d@Example.com" % harness.unique_int()
        enroll(self.daemon, card_number=card, phone="+8615000%04d" % n, email=email)
        cases = [{"card_number": card},
                 {"phone": "+86 150-00%02d-%02d" % (n // 100, n % 100)},
                 {"email": email},
                 {"email": email.lower()},
                 {"email": email.upper()}]
        for extra in cases:
            with self.subTest(extra=extra):
                before = self.fingerprint()
                r = self.req("POST", "/v1/members", dict(name="Dup", **extra))
                assert_problem(self, r, 409, "conflict")
                self.assertEqual(self.fingerprint(), before)

    # ---------------------------------------------------------------- PATCH

    def test_patch_each_field(self):
        m = enroll(self.daemon, name="Patch Me", phone=unique_phone(), email=unique_email(),
                   birthday="1980-01-01")
        path = "/v1/members/" + q(m["id"])
        n = harness.unique_int() % 10000
        new_email = unique_email()
        changes = [({"name": "王小明"}, {"name": "王小明"}),
                   ({"phone": "+86 186-1111-%04d" % n}, {"phone": "+861861111%04d" % n}),
                   ({"email": new_email}, None),
                   ({"birthday": "2000-02-29"}, {"birthday": "2000-02-29"}),
                   ({"status": "suspended"}, {"status": "suspended"}),
                   ({"status": "active"}, {"status": "active"}),
                   ({"name": "Two", "birthday": "1999-12-31"}, {"name": "Two",
                                                               "birthday": "1999-12-31"})]
        cur = m
        for body, expect in changes:
            with self.subTest(body=body):
                r = self.req("PATCH", path, body)
                self.assertEqual(r.status, 200, r)
                got = r.json()
                self.assert_member(got)
                want = dict(cur)
                if expect is None:
                    self.assertEqual(got["email"].lower(), new_email.lower())
                    want["email"] = got["email"]
                else:
                    want.update(expect)
                for k in MEMBER_KEYS:
                    if k != "updated_at":
                        self.assertEqual(got[k], want[k], k)
                self.assertGreaterEqual(parse_time(got["updated_at"]),
                                        parse_time(cur["updated_at"]))
                self.assertEqual(self.get(m["id"]).json(), got)
                cur = got
        # the old email and phone are no longer taken by this member
        r = self.lookup(email=new_email)
        self.assertEqual([x["id"] for x in r.json()["items"]], [m["id"]])

    def test_patch_conflict_and_unknown(self):
        a = enroll(self.daemon, email=unique_email(), phone=unique_phone())
        b = enroll(self.daemon)
        before = self.fingerprint()
        for body in ({"email": a["email"].upper()}, {"phone": a["phone"]}):
            r = self.req("PATCH", "/v1/members/" + q(b["id"]), body)
            assert_problem(self, r, 409, "conflict")
        r = self.req("PATCH", "/v1/members/" + q(other_id_like(b["id"])), {"name": "x"})
        assert_problem(self, r, 404, "not_found")
        self.assertEqual(self.fingerprint(), before)

    # ---------------------------------------------------------------- DELETE

    def test_delete_erases_and_frees(self):
        phone, email, card = unique_phone(), unique_email(), unique_card()
        m = enroll(self.daemon, name="Erase Me", phone=phone, email=email, card_number=card,
                   birthday="1970-07-07")
        tok = member_token(self.daemon, m["id"])["token"]
        self.assertEqual(self.req("GET", "/v1/me", token=tok).status, 200)
        r = self.req("DELETE", "/v1/members/" + q(m["id"]))
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.body, b"")
        g = self.get(m["id"])
        self.assertEqual(g.status, 200, g)
        gone = g.json()
        self.assertEqual(gone["status"], "closed")
        for k in ("name", "phone", "email", "birthday"):
            self.assertIsNone(gone[k], k)
        self.assertEqual(gone["card_number"], card)
        self.assertEqual(gone["id"], m["id"])
        self.assertEqual(gone["points_balance"], m["points_balance"])
        # the member's tokens are revoked
        r, took = poll_until(lambda: self.req("GET", "/v1/me", token=tok).status == 401, 1.0)
        self.assertTrue(r, "member token still works %.2f s after DELETE" % took)
        # look-ups by the erased data find nothing
        self.assertEqual(self.lookup(email=email).json()["items"], [])
        self.assertEqual(self.lookup(phone=phone).json()["items"], [])
        # phone and email are free again; the card stays reserved
        again = enroll(self.daemon, name="New Owner", phone=phone, email=email)
        self.assertNotEqual(again["id"], m["id"])
        r = self.req("POST", "/v1/members", {"name": "Card Thief", "card_number": card})
        assert_problem(self, r, 409, "conflict")

    def test_delete_unknown(self):
        m = enroll(self.daemon)
        r = self.req("DELETE", "/v1/members/" + q(other_id_like(m["id"])))
        assert_problem(self, r, 404, "not_found")

    # ---------------------------------------------------------------- referrals

    def test_referral(self):
        a = enroll(self.daemon, name="Referrer")
        b = enroll(self.daemon, name="Referee", referral_code=a["referral_code"])
        self.assertEqual(b["referred_by"], a["id"])
        self.assertEqual(self.get(b["id"]).json()["referred_by"], a["id"])
        self.assertIsNone(self.get(a["id"]).json()["referred_by"])

    def test_unknown_referral_code(self):
        before = self.fingerprint()
        r = self.req("POST", "/v1/members", {"name": "X", "referral_code": "NO-SUCH-CODE-42"})
        assert_problem(self, r, 400, "validation_failed")
        self.assertEqual(self.fingerprint(), before)

    # ---------------------------------------------------------------- member tokens

    def test_member_token_default_ttl_and_me(self):
        m = enroll(self.daemon, name="Token Owner")
        r = self.req("POST", "/v1/members/%s/tokens" % q(m["id"]), {})
        self.assertEqual(r.status, 201, r)
        doc = r.json()
        self.assertIsInstance(doc["token"], str)
        self.assertTrue(doc["token"])
        now = datetime.datetime.now(datetime.timezone.utc)
        exp = parse_time(doc["expires_at"])
        self.assertLess(abs((exp - now).total_seconds() - 3600), 10, doc)
        me = self.req("GET", "/v1/me", token=doc["token"])
        self.assertEqual(me.status, 200, me)
        self.assertEqual(me.json(), self.get(m["id"]).json())

    def test_member_token_ttl(self):
        m = enroll(self.daemon)
        for ttl in (60, 7200, 2592000):
            doc = member_token(self.daemon, m["id"], ttl_seconds=ttl)
            now = datetime.datetime.now(datetime.timezone.utc)
            self.assertLess(abs((parse_time(doc["expires_at"]) - now).total_seconds() - ttl), 10)
        before = self.fingerprint()
        for ttl in (59, 2592001, 0, -1):
            r = self.req("POST", "/v1/members/%s/tokens" % q(m["id"]), {"ttl_seconds": ttl})
            doc = assert_problem(self, r, 400, "validation_failed")
            self.assertIn("ttl_seconds", harness.error_fields(doc))
        self.assertEqual(self.fingerprint(), before)

    def test_member_token_unknown_member(self):
        m = enroll(self.daemon)
        r = self.req("POST", "/v1/members/%s/tokens" % q(other_id_like(m["id"])), {})
        assert_problem(self, r, 404, "not_found")

    def test_revoke_member_tokens(self):
        m = enroll(self.daemon)
        t1 = member_token(self.daemon, m["id"])["token"]
        t2 = member_token(self.daemon, m["id"])["token"]
        self.assertNotEqual(t1, t2)
        for t in (t1, t2):
            self.assertEqual(self.req("GET", "/v1/me", token=t).status, 200)
        r = self.req("DELETE", "/v1/members/%s/tokens" % q(m["id"]))
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.body, b"")
        for t in (t1, t2):
            ok, took = poll_until(lambda: self.req("GET", "/v1/me", token=t).status == 401, 1.0)
            self.assertTrue(ok, "token still accepted %.2f s after revocation" % took)
            r = self.req("GET", "/v1/me", token=t)
            assert_problem(self, r, 401, "unauthorized")
            self.assertTrue(r.headers.get("WWW-Authenticate", "").startswith("Bearer"))
        # a new token works again
        t3 = member_token(self.daemon, m["id"])["token"]
        self.assertEqual(self.req("GET", "/v1/me", token=t3).status, 200)


if __name__ == "__main__":
    harness.main()
