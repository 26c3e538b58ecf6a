"""The rewards catalog: POST /v1/rewards, PATCH /v1/rewards/{id}, GET /v1/rewards (staff and
member tokens), validation, uniqueness, roles, paging and Idempotency-Key."""

import secrets

import harness
from harness import (DaemonTestCase, assert_problem, enroll, error_fields, make_key,
                     member_token, parse_time, q)

REWARD_KEYS = ("id", "code", "name", "kind", "points_cost", "discount_value", "discount_pct",
               "stock", "min_tier", "per_member_limit", "valid_from", "valid_until", "active",
               "created_at", "updated_at")


def rcode(prefix="r"):
    return "%s-%s" % (prefix, secrets.token_hex(5))


class RewardsTest(DaemonTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tiers = harness.rule_tiers(cls.daemon)
        cls.pos = make_key(cls.daemon, "pos")["key"]
        cls.app = make_key(cls.daemon, "app")["key"]

    def tearDown(self):
        self.assert_ledger_invariant()

    def create(self, **fields):
        body = {"code": rcode(), "name": "Free coffee", "kind": "gift", "points_cost": 100,
                "active": True}
        body.update(fields)
        r = self.req("POST", "/v1/rewards", body)
        self.assertEqual(r.status, 201, r)
        return r.json()

    def list_all(self, token=harness.ADMIN, query="", limit=500):
        """Every page of GET /v1/rewards."""
        items, cursor = [], None
        while True:
            qs = "limit=%d" % limit + (query and "&" + query) + \
                 ("&cursor=" + q(cursor) if cursor else "")
            r = self.req("GET", "/v1/rewards?" + qs, token=token)
            self.assertEqual(r.status, 200, r)
            doc = r.json()
            items += doc["items"]
            cursor = doc["next_cursor"]
            if cursor is None:
                return items

    def assert_reward(self, w):
        self.assertEqual(sorted(w), sorted(REWARD_KEYS), w)
        self.assertTrue(w["id"].startswith("rwd_"), w)
        parse_time(w["created_at"])
        parse_time(w["updated_at"])

    def set_tier(self, member, tier):
        self.psql("UPDATE members SET tier = %s WHERE card_number = %s;"
                  % (harness.quote_literal(tier), harness.quote_literal(member["card_number"])))

    # ---------------------------------------------------------------- create

    def test_create_gift_minimal(self):
        w = self.create(name="免费咖啡")
        self.assert_reward(w)
        self.assertEqual(w["name"], "免费咖啡")
        self.assertEqual(w["kind"], "gift")
        for k in ("discount_value", "discount_pct", "stock", "min_tier", "per_member_limit",
                  "valid_from", "valid_until"):
            self.assertIsNone(w[k], k)
        self.assertIs(w["active"], True)
        self.assertEqual(w["created_at"], w["updated_at"])

    def test_create_every_field(self):
        w = self.create(kind="discount", discount_pct=12.5, points_cost=300, stock=7,
                        min_tier=self.tiers[1], per_member_limit=2,
                        valid_from="2026-01-01T00:00:00+08:00",
                        valid_until="2099-01-01T00:00:00Z", active=False)
        self.assert_reward(w)
        self.assertEqual(w["discount_pct"], 12.5)
        self.assertIsNone(w["discount_value"])
        self.assertEqual((w["stock"], w["min_tier"], w["per_member_limit"]),
                         (7, self.tiers[1], 2))
        self.assertEqual(parse_time(w["valid_from"]), parse_time("2025-12-31T16:00:00Z"))
        self.assertEqual(parse_time(w["valid_until"]), parse_time("2099-01-01T00:00:00Z"))
        self.assertIs(w["active"], False)
        v = self.create(kind="discount", discount_value=500)
        self.assertEqual((v["discount_value"], v["discount_pct"]), (500, None))
        p = self.create(kind="discount", discount_pct=5)
        self.assertEqual(p["discount_pct"], 5)
        self.assertIsInstance(p["discount_pct"], int)
        p = self.create(kind="discount", discount_pct=0.07)
        self.assertAlmostEqual(p["discount_pct"], 0.07)

    def test_create_validation(self):
        before = self.fingerprint()
        cases = [
            ({"code": "UPPER"}, "code"),
            ({"code": "x" * 33}, "code"),
            ({"code": "has space"}, "code"),
            ({"name": ""}, "name"),
            ({"name": "王" * 101}, "name"),
            ({"kind": "voucher"}, "kind"),
            ({"points_cost": 0}, "points_cost"),
            ({"points_cost": 1.5}, "points_cost"),
            ({"points_cost": "100"}, "points_cost"),
            ({"stock": -1}, "stock"),
            ({"per_member_limit": 0}, "per_member_limit"),
            ({"min_tier": "no-such-tier"}, "min_tier"),
            ({"valid_from": "2026-01-01"}, "valid_from"),
            ({"valid_until": "2026-13-01T00:00:00Z"}, "valid_until"),
            ({"valid_until": "2026-01-01T00:00:00"}, "valid_until"),
            ({"valid_from": "2027-01-01T00:00:00Z", "valid_until": "2026-01-01T00:00:00Z"},
             "valid_until"),
            ({"valid_from": "2026-01-01T08:00:00+08:00", "valid_until": "2026-01-01T00:00:00Z"},
             "valid_until"),
            ({"active": "yes"}, "active"),
            ({"active": None}, "active"),
            ({"colour": "red"}, "colour"),
            ({"discount_value": 100}, "discount_value"),
            ({"discount_pct": 10}, "discount_pct"),
            ({"kind": "discount"}, "discount_value"),
            ({"kind": "discount", "discount_value": 100, "discount_pct": 10}, "discount_pct"),
            ({"kind": "discount", "discount_pct": 0}, "discount_pct"),
            ({"kind": "discount", "discount_pct": 100.01}, "discount_pct"),
            ({"kind": "discount", "discount_pct": 2.555}, "discount_pct"),
            ({"kind": "discount", "discount_pct": "5"}, "discount_pct"),
            ({"kind": "discount", "discount_value": 0}, "discount_value"),
        ]
        for extra, field in cases:
            with self.subTest(extra=extra):
                body = {"code": rcode(), "name": "N", "kind": "gift", "points_cost": 10,
                        "active": True}
                body.update(extra)
                r = self.req("POST", "/v1/rewards", body)
                doc = assert_problem(self, r, 400, "validation_failed")
                self.assertIn(field, error_fields(doc))
        for missing in ("code", "name", "kind", "points_cost", "active"):
            with self.subTest(missing=missing):
                body = {"code": rcode(), "name": "N", "kind": "gift", "points_cost": 10,
                        "active": True}
                del body[missing]
                doc = assert_problem(self, self.req("POST", "/v1/rewards", body), 400,
                                     "validation_failed")
                self.assertIn(missing, error_fields(doc))
        assert_problem(self, self.req("POST", "/v1/rewards", [1]), 400, "validation_failed")
        self.assertEqual(self.fingerprint(), before)

    def test_duplicate_code(self):
        w = self.create()
        before = self.fingerprint()
        r = self.req("POST", "/v1/rewards", {"code": w["code"], "name": "Again", "kind": "gift",
                                             "points_cost": 5, "active": True})
        doc = assert_problem(self, r, 409, "conflict")
        self.assertIn("code", error_fields(doc))
        self.assertEqual(self.fingerprint(), before)

    def test_roles(self):
        m = enroll(self.daemon)
        tok = member_token(self.daemon, m["id"])["token"]
        body = {"code": rcode(), "name": "N", "kind": "gift", "points_cost": 10, "active": True}
        w = self.create()
        for token in (self.pos, self.app, tok):
            assert_problem(self, self.req("POST", "/v1/rewards", body, token=token), 403,
                           "forbidden")
            assert_problem(self, self.req("PATCH", "/v1/rewards/" + w["id"], {"name": "x"},
                                          token=token), 403, "forbidden")
        assert_problem(self, self.req("POST", "/v1/rewards", body, token=None), 401,
                       "unauthorized")
        for token in (self.pos, self.app, tok):
            self.assertEqual(self.req("GET", "/v1/rewards", token=token).status, 200)

    def test_idempotent_create(self):
        k = "idem-" + secrets.token_hex(8)
        body = {"code": rcode(), "name": "Once", "kind": "gift", "points_cost": 10,
                "active": True}
        r1 = self.req("POST", "/v1/rewards", body, headers={"Idempotency-Key": k})
        self.assertEqual(r1.status, 201, r1)
        before = self.fingerprint()
        r2 = self.req("POST", "/v1/rewards", body, headers={"Idempotency-Key": k})
        self.assertEqual((r2.status, r2.body), (r1.status, r1.body))
        self.assertEqual(self.fingerprint(), before)

    # ---------------------------------------------------------------- PATCH

    def test_patch_fields(self):
        w = self.create(stock=5)
        path = "/v1/rewards/" + w["id"]
        steps = [
            ({"name": "新名字"}, {"name": "新名字"}),
            ({"stock": 2}, {"stock": 2}),
            ({"stock": None}, {"stock": None}),
            ({"active": False}, {"active": False}),
            ({"points_cost": 250}, {"points_cost": 250}),
            ({"kind": "discount", "discount_value": 300},
             {"kind": "discount", "discount_value": 300}),
            ({"discount_value": None, "discount_pct": 7.5},
             {"discount_value": None, "discount_pct": 7.5}),
            ({"min_tier": self.tiers[-1], "per_member_limit": 3},
             {"min_tier": self.tiers[-1], "per_member_limit": 3}),
            ({"min_tier": None, "per_member_limit": None},
             {"min_tier": None, "per_member_limit": None}),
            ({"valid_from": "2026-01-01T00:00:00Z"}, None),
            ({"kind": "gift", "discount_pct": None}, {"kind": "gift", "discount_pct": None}),
            ({}, {}),
        ]
        cur = w
        for body, expect in steps:
            with self.subTest(body=body):
                r = self.req("PATCH", path, body)
                self.assertEqual(r.status, 200, r)
                got = r.json()
                self.assert_reward(got)
                want = dict(cur)
                if expect is None:
                    self.assertEqual(parse_time(got["valid_from"]),
                                     parse_time(body["valid_from"]))
                    want["valid_from"] = got["valid_from"]
                else:
                    want.update(expect)
                for k in REWARD_KEYS:
                    if k != "updated_at":
                        self.assertEqual(got[k], want[k], k)
                cur = got

    def test_patch_refusals(self):
        w = self.create(kind="discount", discount_value=100)
        other = self.create()
        path = "/v1/rewards/" + w["id"]
        before = self.fingerprint()
        for body, field in (({"discount_pct": 5}, "discount_pct"),
                            ({"kind": "gift"}, "discount_value"),
                            ({"discount_value": None}, "discount_value"),
                            ({"code": "BAD CODE"}, "code"),
                            ({"min_tier": "nope"}, "min_tier"),
                            ({"valid_from": "2030-01-01T00:00:00Z",
                              "valid_until": "2029-01-01T00:00:00Z"}, "valid_until"),
                            ({"name": None}, "name"),
                            ({"unknown": 1}, "unknown")):
            with self.subTest(body=body):
                doc = assert_problem(self, self.req("PATCH", path, body), 400,
                                     "validation_failed")
                self.assertIn(field, error_fields(doc))
        assert_problem(self, self.req("PATCH", path, {"code": other["code"]}), 409, "conflict")
        for rid in (harness.absent_id_like(w["id"]), "nonsense", "rwd_0"):
            assert_problem(self, self.req("PATCH", "/v1/rewards/" + q(rid), {"name": "x"}), 404,
                           "not_found")
        self.assertEqual(self.fingerprint(), before)

    # ---------------------------------------------------------------- list

    def test_list_shows_available_only(self):
        live = self.create()
        inactive = self.create(active=False)
        future = self.create(valid_from="2099-01-01T00:00:00Z")
        past = self.create(valid_until="2020-01-01T00:00:00Z")
        window = self.create(valid_from="2020-01-01T00:00:00Z",
                             valid_until="2099-01-01T00:00:00Z")
        ids = [w["id"] for w in self.list_all()]
        self.assertIn(live["id"], ids)
        self.assertIn(window["id"], ids)
        for w in (inactive, future, past):
            self.assertNotIn(w["id"], ids)
        every = {w["id"]: w for w in self.list_all(query="all=true")}
        for w in (live, inactive, future, past, window):
            self.assertEqual(every[w["id"]], w)
        assert_problem(self, self.req("GET", "/v1/rewards?all=true", token=self.pos), 403,
                       "forbidden")
        self.assertEqual(self.req("GET", "/v1/rewards?all=false", token=self.pos).status, 200)

    def test_list_paging(self):
        made = [self.create()["id"] for _ in range(5)]
        everything = [w["id"] for w in self.list_all(query="all=true")]
        self.assertEqual(everything, sorted(everything, key=lambda i: -int(i[4:])))
        paged = [w["id"] for w in self.list_all(query="all=true", limit=2)]
        self.assertEqual(paged, everything)
        self.assertEqual(everything[:5], made[::-1])
        r = self.req("GET", "/v1/rewards?limit=2")
        self.assertEqual(len(r.json()["items"]), 2)
        self.assertIsNotNone(r.json()["next_cursor"])
        for bad in ("limit=0", "limit=501", "limit=x", "cursor=nonsense", "all=yes", "colour=1"):
            assert_problem(self, self.req("GET", "/v1/rewards?" + bad), 400, "validation_failed")

    def test_member_sees_only_its_tier(self):
        low, high = self.tiers[0], self.tiers[-1]
        free = self.create()
        mid = self.create(min_tier=self.tiers[1])
        top = self.create(min_tier=high)
        hidden = self.create(min_tier=high, active=False)
        m = enroll(self.daemon)
        self.set_tier(m, low)
        tok = member_token(self.daemon, m["id"])["token"]
        seen = [w["id"] for w in self.list_all(token=tok)]
        self.assertIn(free["id"], seen)
        self.assertNotIn(mid["id"], seen)
        self.assertNotIn(top["id"], seen)
        assert_problem(self, self.req("GET", "/v1/rewards?all=true", token=tok), 403,
                       "forbidden")
        self.set_tier(m, high)
        seen = [w["id"] for w in self.list_all(token=tok)]
        for w in (free, mid, top):
            self.assertIn(w["id"], seen)
        self.assertNotIn(hidden["id"], seen)
        # staff see everything available, whatever its tier
        staff = [w["id"] for w in self.list_all(token=self.pos)]
        for w in (free, mid, top):
            self.assertIn(w["id"], staff)

    def test_stock_shows_what_remains(self):
        w = self.create(stock=4, points_cost=10)
        m = enroll(self.daemon)
        r = self.req("POST", "/v1/members/%s/adjustments" % q(m["id"]),
                     {"points": 100, "reason": "test"})
        self.assertEqual(r.status, 201, r)
        r = self.req("POST", "/v1/members/%s/redemptions" % q(m["id"]),
                     {"reward_id": w["id"], "quantity": 3})
        self.assertEqual(r.status, 201, r)
        listed = {x["id"]: x for x in self.list_all()}
        self.assertEqual(listed[w["id"]]["stock"], 1)
        r = self.req("PATCH", "/v1/rewards/" + w["id"], {"stock": 10})
        self.assertEqual(r.json()["stock"], 10)


if __name__ == "__main__":
    harness.main()
