"""The rule set: version 1 on a new database, PUT validation with every error
path, versions and history, who may call what, and the active-rules cache
across two daemons (a new version is served everywhere within 1 s; concurrent
PUTs get consecutive versions)."""

import copy
import json
import threading

import harness
from harness import (Daemon, DaemonTestCase, TwoDaemonsTestCase, assert_problem, enroll,
                     error_fields, make_key, member_token, poll_until, q)

# The default rule set as the daemon answers it (canonical form: every part
# present): the contract's example without its dated promotion.
DEFAULT_RULES = {
    "currency": "CNY",
    "timezone": "Asia/Shanghai",
    "earn": {"points_per_unit": 1, "unit": 100,
             "excluded_categories": ["tobacco", "gift_card"],
             "category_multipliers": {"fresh": 2}},
    "tiers": [
        {"code": "basic", "name": "普通会员", "min_spend": 0, "discount_pct": 0,
         "points_multiplier": 1},
        {"code": "silver", "name": "银卡会员", "min_spend": 200000, "discount_pct": 2,
         "points_multiplier": 1.25},
        {"code": "gold", "name": "金卡会员", "min_spend": 1000000, "discount_pct": 5,
         "points_multiplier": 1.5},
    ],
    "tier_window_days": 365,
    "tier_downgrade_grace_days": 30,
    "birthday": {"window": "month", "multiplier": 2, "bonus_points": 500},
    "referral": {"referrer_points": 300, "referee_points": 200, "min_first_purchase": 5000},
    "promotions": [],
    "redemption": {"points_per_unit": 100, "max_bill_pct": 50},
    "expiry": {"months": 12},
    "pending_days": 0,
    "max_discount_pct": 50,
    "insight": {"rfm_period_days": 365, "high": "mean",
                "lifecycle_days": {"silent": 30, "forgetting": 90, "lost": 180}},
}

# A valid document with a promotion, decimals that are not binary fractions
# and optional parts left out.
PROMO_DOC = {
    "currency": "CNY",
    "timezone": "Asia/Tokyo",
    "earn": {"points_per_unit": 2, "unit": 100, "excluded_categories": ["tobacco"],
             "category_multipliers": {"fresh": 1.15}},
    "tiers": [
        {"code": "basic", "name": "普通会员", "min_spend": 0},
        {"code": "silver", "name": "银卡会员", "min_spend": 150000, "discount_pct": 2.5,
         "points_multiplier": 1.1},
    ],
    "promotions": [
        {"code": "weekend-fresh", "multiplier": 2, "discount_pct": 0.3,
         "starts_at": "2026-11-01T00:00:00+08:00", "ends_at": "2026-12-01T00:00:00+08:00",
         "when": {"all": [{"fact": "purchase.weekday", "op": "in", "value": ["sat", "sun"]},
                          {"fact": "purchase.subtotal", "op": ">=", "value": 10000},
                          {"fact": "member.tier", "op": "in", "value": ["silver"]}]},
         "categories": ["fresh"]},
    ],
    "redemption": {"points_per_unit": 100, "max_bill_pct": 50},
    "expiry": {"months": 6},
}

# What the daemon makes of PROMO_DOC: defaults filled in, times in UTC.
PROMO_CANONICAL = {
    "currency": "CNY",
    "timezone": "Asia/Tokyo",
    "earn": {"points_per_unit": 2, "unit": 100, "excluded_categories": ["tobacco"],
             "category_multipliers": {"fresh": 1.15}},
    "tiers": [
        {"code": "basic", "name": "普通会员", "min_spend": 0, "discount_pct": 0,
         "points_multiplier": 1},
        {"code": "silver", "name": "银卡会员", "min_spend": 150000, "discount_pct": 2.5,
         "points_multiplier": 1.1},
    ],
    "tier_window_days": 365,
    "tier_downgrade_grace_days": 0,
    "birthday": {"window": "day", "multiplier": 1, "bonus_points": 0},
    "referral": {"referrer_points": 0, "referee_points": 0, "min_first_purchase": 0},
    "promotions": [
        {"code": "weekend-fresh", "multiplier": 2, "bonus_points": 0, "discount_pct": 0.3,
         "starts_at": "2026-10-31T16:00:00Z", "ends_at": "2026-11-30T16:00:00Z",
         "when": {"all": [{"fact": "purchase.weekday", "op": "in", "value": ["sat", "sun"]},
                          {"fact": "purchase.subtotal", "op": ">=", "value": 10000},
                          {"fact": "member.tier", "op": "in", "value": ["silver"]}]},
         "categories": ["fresh"]},
    ],
    "redemption": {"points_per_unit": 100, "max_bill_pct": 50},
    "expiry": {"months": 6},
    "pending_days": 0,
    "max_discount_pct": 100,
    "insight": {"rfm_period_days": 365, "high": "mean",
                "lifecycle_days": {"silent": 30, "forgetting": 90, "lost": 180}},
}

PROPAGATION_S = 1.0


def active(d):
    r = d.request("GET", "/v1/rules")
    if r.status != 200:
        raise AssertionError("GET /v1/rules -> %r" % r)
    return r.json()


def wait_for_version(tc, d, version, limit=PROPAGATION_S):
    """Polls GET /v1/rules on d until it serves `version`; fails after `limit` s."""
    seen, took = poll_until(lambda: active(d)["version"] == version, limit, interval=0.01)
    tc.assertTrue(seen, "daemon on port %d still serves %r %.2f s after version %d was "
                  "activated" % (d.port, active(d)["version"], took, version))
    tc.assertLessEqual(took, limit)
    return active(d)


def put_rules(tc, d, doc, wait=True):
    """PUT /v1/rules on d; asserts 200 and (with `wait`) waits until d serves
    the new version: it learns of it through the same notification as every
    other daemon."""
    r = d.request("PUT", "/v1/rules", doc)
    tc.assertEqual(r.status, 200, r)
    body = r.json()
    tc.assertEqual(sorted(body), ["activated_at", "rules", "version"], r)
    harness.parse_time(body["activated_at"])
    if wait:
        tc.assertEqual(wait_for_version(tc, d, body["version"]), body)
    return body


class RulesTest(DaemonTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Before any test changes it: what a new database starts with.
        cls.initial = active(cls.daemon)
        cls.initial_rows = cls.cluster.psql(
            cls.db, "SELECT version, activated_by IS NULL FROM rule_versions;").split()

    def test_new_database_has_the_default_rules_as_version_1(self):
        self.assertEqual(self.initial["version"], 1)
        self.assertEqual(self.initial["rules"], DEFAULT_RULES)
        harness.parse_time(self.initial["activated_at"])
        self.assertEqual(self.initial_rows, ["1|t"])
        r = self.req("GET", "/v1/rules/versions/1")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), self.initial)
        # The stored document is the canonical form the API shows.
        self.assertEqual(self.psql("SELECT document = %s::jsonb FROM rule_versions "
                                   "WHERE version = 1;" % harness.quote_literal(
                                       json.dumps(DEFAULT_RULES, ensure_ascii=False))).strip(),
                         "t")

    def test_invalid_document_lists_every_error_and_changes_nothing(self):
        before = active(self.daemon)
        doc = copy.deepcopy(before["rules"])
        doc["tiers"][1]["min_spend"] = 0               # not above the previous tier
        doc["earn"]["unit"] = 0                        # below 1
        doc["timezone"] = "Mars/Olympus_Mons"          # well formed, unknown to PostgreSQL
        doc["colour"] = "blue"                         # unknown field
        doc["max_discount_pct"] = 1.234                # three decimals
        doc["promotions"] = [{
            "code": "p1", "starts_at": "2026-11-01T00:00:00+08:00",
            "ends_at": "2026-12-01T00:00:00+08:00",
            "when": {"all": [{"fact": "purchase.subtotal", "op": "~=", "value": 1},
                             {"fact": "member.shoe_size", "op": "==", "value": 42}]}}]
        fp = self.fingerprint()
        r = self.req("PUT", "/v1/rules", doc)
        p = assert_problem(self, r, 400, "validation_failed")
        self.assertEqual(sorted(error_fields(p)), sorted([
            "$.tiers[1].min_spend",
            "$.earn.unit",
            "$.timezone",
            "$.colour",
            "$.max_discount_pct",
            "$.promotions[0].when.all[0].op",
            "$.promotions[0].when.all[1].fact",
        ]), p)
        for e in p["errors"]:
            self.assertTrue(e["message"], p)
        self.assertEqual(self.fingerprint(), fp, "a rejected PUT changed the database")
        self.assertEqual(active(self.daemon), before)

    def test_unknown_time_zone_alone(self):
        doc = copy.deepcopy(DEFAULT_RULES)
        doc["timezone"] = "Europe/Atlantis"
        fp = self.fingerprint()
        p = assert_problem(self, self.req("PUT", "/v1/rules", doc), 400, "validation_failed")
        self.assertEqual(error_fields(p), ["$.timezone"], p)
        self.assertEqual(self.fingerprint(), fp)
        doc["timezone"] = "Europe/Paris"
        self.assertEqual(put_rules(self, self.daemon, doc)["rules"]["timezone"], "Europe/Paris")

    def test_not_a_rule_set(self):
        fp = self.fingerprint()
        p = assert_problem(self, self.req("PUT", "/v1/rules", ["not", "an", "object"]), 400,
                           "validation_failed")
        assert_problem(self, self.req("PUT", "/v1/rules", raw=b""), 400, "malformed_json")
        p = assert_problem(self, self.req("PUT", "/v1/rules", {}), 400, "validation_failed")
        for f in ("$.earn", "$.tiers", "$.redemption", "$.expiry"):
            self.assertIn(f, error_fields(p))
        self.assertEqual(self.fingerprint(), fp)

    def test_put_activates_the_next_version(self):
        before = active(self.daemon)
        body = put_rules(self, self.daemon, PROMO_DOC)
        self.assertEqual(body["version"], before["version"] + 1)
        self.assertEqual(body["rules"], PROMO_CANONICAL)
        # Decimals come back as written, not as the nearest double.
        self.assertIn('"points_multiplier":1.1', self.req("GET", "/v1/rules/versions/%d"
                                                          % body["version"]).text.replace(" ", ""))
        r = self.req("GET", "/v1/rules/versions/%d" % body["version"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), body)
        # The old version is still there as it was.
        r = self.req("GET", "/v1/rules/versions/%d" % before["version"])
        self.assertEqual(r.json(), before)
        # Recorded with the admin key that activated it.
        who = self.psql("SELECT k.role FROM rule_versions v JOIN api_keys k ON k.id = "
                        "v.activated_by WHERE v.version = %d;" % body["version"]).strip()
        self.assertEqual(who, "admin")

    def test_canonical_form_is_a_fixed_point(self):
        cur = active(self.daemon)
        body = put_rules(self, self.daemon, cur["rules"])
        self.assertEqual(body["rules"], cur["rules"])
        self.assertEqual(body["version"], cur["version"] + 1)

    def test_versions_list(self):
        for _ in range(3):
            put_rules(self, self.daemon, DEFAULT_RULES)
        top = int(self.psql("SELECT max(version) FROM rule_versions;"))
        r = self.req("GET", "/v1/rules/versions")
        self.assertEqual(r.status, 200, r)
        page = r.json()
        self.assertEqual([i["version"] for i in page["items"]], list(range(top, 0, -1)))
        self.assertIsNone(page["next_cursor"])
        for i in page["items"]:
            self.assertEqual(sorted(i), ["activated_at", "version"])
            harness.parse_time(i["activated_at"])
        stamps = [harness.parse_time(i["activated_at"]) for i in page["items"]]
        self.assertEqual(stamps, sorted(stamps, reverse=True), "activated_at not monotonic")
        # Page by page with limit=2.
        seen, cursor = [], None
        while True:
            path = "/v1/rules/versions?limit=2" + ("&cursor=" + q(cursor) if cursor else "")
            r = self.req("GET", path)
            self.assertEqual(r.status, 200, r)
            page = r.json()
            self.assertLessEqual(len(page["items"]), 2)
            seen += [i["version"] for i in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        self.assertEqual(seen, list(range(top, 0, -1)))
        for bad in ("limit=0", "limit=501", "limit=x", "cursor=abc", "cursor=01", "cursor=-1"):
            with self.subTest(query=bad):
                p = assert_problem(self, self.req("GET", "/v1/rules/versions?" + bad), 400,
                                   "validation_failed")
                self.assertEqual(error_fields(p), [bad.split("=")[0]], p)

    def test_version_not_found(self):
        for n in ("0", "01", "-1", "abc", "1.0", "99999", "2147483648", "99999999999999999999"):
            with self.subTest(n=n):
                assert_problem(self, self.req("GET", "/v1/rules/versions/" + q(n)), 404,
                               "not_found")

    def test_who_may_call(self):
        pos = make_key(self.daemon, "pos")["key"]
        pos_bound = make_key(self.daemon, "pos", store_id="S9")["key"]
        app = make_key(self.daemon, "app")["key"]
        tok = member_token(self.daemon, enroll(self.daemon)["id"])["token"]
        for t in (pos, pos_bound):
            r = self.req("GET", "/v1/rules", token=t)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["version"], active(self.daemon)["version"])
        fp = self.fingerprint()
        for t in (pos, app, tok):
            assert_problem(self, self.req("PUT", "/v1/rules", DEFAULT_RULES, token=t), 403,
                           "forbidden")
            assert_problem(self, self.req("GET", "/v1/rules/versions", token=t), 403,
                           "forbidden")
            assert_problem(self, self.req("GET", "/v1/rules/versions/1", token=t), 403,
                           "forbidden")
        for t in (app, tok):
            assert_problem(self, self.req("GET", "/v1/rules", token=t), 403, "forbidden")
        for m, path in (("GET", "/v1/rules"), ("PUT", "/v1/rules"),
                        ("GET", "/v1/rules/versions"), ("GET", "/v1/rules/versions/1")):
            assert_problem(self, self.req(m, path, DEFAULT_RULES if m == "PUT" else None,
                                          token=None), 401, "unauthorized")
        self.assertEqual(self.fingerprint(), fp)
        r = self.req("POST", "/v1/rules", DEFAULT_RULES)
        assert_problem(self, r, 405, "method_not_allowed")


class BrokenStoredRulesTest(DaemonTestCase):
    """A stored version this binary cannot read: running daemons keep the
    version they have; a daemon cannot start on it."""

    def test_unreadable_version(self):
        d = self.daemon
        v1 = active(d)
        # Written behind the API's back, as an older or newer binary might have.
        self.psql("INSERT INTO rule_versions (version, document) VALUES (2, "
                  "'{\"tiers\": \"many\"}');")
        bad_logged, _ = poll_until(lambda: "cannot reload the rules" in d.log(), 5.0)
        self.assertTrue(bad_logged, d.log_tail())
        self.assertEqual(active(d), v1)
        with self.assertRaises(AssertionError) as cm:
            other = Daemon(self.db, admin_key=d.admin_key, start_timeout=20)
            other.stop()
        self.assertIn("stored rules version 2 is not a valid rule set", str(cm.exception))
        # A valid PUT moves everyone past it.
        body = put_rules(self, d, DEFAULT_RULES)
        self.assertEqual(body["version"], 3)


class TwoDaemonsRulesTest(TwoDaemonsTestCase):

    def test_put_on_one_is_served_by_the_other_within_1s(self):
        for src, dst, doc in ((self.a, self.b, PROMO_DOC), (self.b, self.a, DEFAULT_RULES),
                              (self.a, self.b, DEFAULT_RULES)):
            active(dst)  # the other daemon has been serving the old version
            body = put_rules(self, src, doc, wait=False)
            got = wait_for_version(self, dst, body["version"])
            self.assertEqual(got, body)
            self.assertEqual(wait_for_version(self, src, body["version"]), body)

    def test_concurrent_puts_get_consecutive_versions(self):
        start = int(self.psql("SELECT max(version) FROM rule_versions;"))
        per_thread, nthreads = 4, 6
        results, errors = [], []
        lock = threading.Lock()
        go = threading.Barrier(nthreads)

        def worker(i):
            d = self.a if i % 2 == 0 else self.b
            doc = copy.deepcopy(DEFAULT_RULES)
            try:
                go.wait()
                for k in range(per_thread):
                    doc["pending_days"] = i * per_thread + k  # which request made which version
                    r = d.request("PUT", "/v1/rules", doc)
                    with lock:
                        if r.status == 200:
                            results.append((r.json()["version"], doc["pending_days"]))
                        else:
                            errors.append(r)
            except Exception as ex:  # reported below, not lost in the thread
                with lock:
                    errors.append(ex)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(nthreads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        total = per_thread * nthreads
        versions = sorted(v for v, _ in results)
        self.assertEqual(versions, list(range(start + 1, start + total + 1)))
        # Each answer names the version that holds its own document.
        rows = dict(tuple(map(int, line.split("|"))) for line in self.psql(
            "SELECT version, (document->>'pending_days')::int FROM rule_versions "
            "WHERE version > %d;" % start).split())
        self.assertEqual(rows, dict(results))
        top = start + total
        for d in (self.a, self.b):
            got = wait_for_version(self, d, top)
            self.assertEqual(got["rules"]["pending_days"], rows[top])


if __name__ == "__main__":
    harness.main()
