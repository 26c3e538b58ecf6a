"""RFM segments and life-cycle stages (issue 6): the `insight` settings, the
snapshot the daily job refreshes, the members' `segment` and
`lifecycle_stage`, the facts member.segment / member.lifecycle_stage in
promotions, and the segments, lifecycle and concentration reports (JSON and
CSV, filters, errors, roles).

One hand-built data set for the whole class.  Today is T (Asia/Shanghai);
every member enrolled T-500 (backdated with SQL); purchases at noon on the
day given, in days before T, of the amounts given (minor units; 1 point per
100, a point worth 1 minor unit, so margin = spend * 0.99).  RFM period =
365 days; thresholds are the buyers' means: R 900/10 = 90, F 22/10 = 2.2,
M 212000/10 = 21200.

  member  purchases (days ago x amount)   R    F  M      segment            stage
  A       5,20,40,60 x 10000              5    4  40000  important-value    active
  B       10 x 50000 (-> silver)          10   1  50000  important-develop  active
  C       186,206,226,246 x 10000         186  4  40000  important-keep     lost (186)
  D       181 x 60000 (-> silver)         181  1  60000  important-retain   lost (181: boundary)
  E       30,50,70 x 1000                 30   3  3000   general-value      silent (30: boundary)
  F       29 x 1000                       29   1  1000   general-develop    active (29: boundary)
  G       180,190,200 x 1000              180  3  3000   general-keep       forgetting (180: boundary)
  H       100 x 2000                      100  1  2000   general-retain     forgetting
  I       400 x 3000 (before the period)  -    0  0      none               lost
  J       no purchase                     -    0  0      none               none
  K       89,150 x 2500                   89   2  5000   general-develop    silent (89: boundary)
  L       90,120 x 4000                   90   2  8000   general-retain     forgetting (90: boundary)
                                                          (R = 90 equals the mean: low)

Stores: A, C, E, G, I enrolled at S2, the others at S1.  Tiers: B and D
silver (silver from 45000), the others basic.
"""

import csv
import datetime
import io
import secrets
from fractions import Fraction

import harness
from harness import DaemonTestCase, assert_problem, enroll, make_key, q

NAMES = "ABCDEFGHIJKL"
PURCHASES = {
    "A": [(5, 10000), (20, 10000), (40, 10000), (60, 10000)],
    "B": [(10, 50000)],
    "C": [(186, 10000), (206, 10000), (226, 10000), (246, 10000)],
    "D": [(181, 60000)],
    "E": [(30, 1000), (50, 1000), (70, 1000)],
    "F": [(29, 1000)],
    "G": [(180, 1000), (190, 1000), (200, 1000)],
    "H": [(100, 2000)],
    "I": [(400, 3000)],
    "J": [],
    "K": [(89, 2500), (150, 2500)],
    "L": [(90, 4000), (120, 4000)],
}
SEGMENT = {"A": "important-value", "B": "important-develop", "C": "important-keep",
           "D": "important-retain", "E": "general-value", "F": "general-develop",
           "G": "general-keep", "H": "general-retain", "I": None, "J": None,
           "K": "general-develop", "L": "general-retain"}
STAGE = {"A": "active", "B": "active", "C": "lost", "D": "lost", "E": "silent", "F": "active",
         "G": "forgetting", "H": "forgetting", "I": "lost", "J": None, "K": "silent",
         "L": "forgetting"}
S2 = set("ACEGI")
SILVER = set("BD")
SEGMENT_ORDER = ["important-value", "important-develop", "important-keep", "important-retain",
                 "general-value", "general-develop", "general-keep", "general-retain", "none"]
STAGE_ORDER = ["active", "silent", "forgetting", "lost", "none"]


def share(part, whole):
    """part / whole rounded half away from zero to 4 decimals (the contract's rule)."""
    if whole == 0:
        return 0.0
    f = Fraction(part, whole) * 10000
    sign = -1 if f < 0 else 1
    f = abs(f)
    n = int(f)
    if f - n >= Fraction(1, 2):
        n += 1
    return sign * n / 10000


def rules_doc(promotions=(), high="mean"):
    return {
        "currency": "CNY", "timezone": "Asia/Shanghai",
        "earn": {"points_per_unit": 1, "unit": 100},
        "tiers": [
            {"code": "basic", "name": "普通会员", "min_spend": 0},
            {"code": "silver", "name": "银卡会员", "min_spend": 45000},
        ],
        "promotions": list(promotions),
        "redemption": {"points_per_unit": 100, "max_bill_pct": 50},
        "expiry": {"months": 12},
        "insight": {"rfm_period_days": 365, "high": high,
                    "lifecycle_days": {"silent": 30, "forgetting": 90, "lost": 180}},
    }


PROMOTIONS = [
    {"code": "court-the-best", "bonus_points": 77,
     "starts_at": "2000-01-01T00:00:00Z", "ends_at": "9999-01-01T00:00:00Z",
     "when": {"fact": "member.segment", "op": "==", "value": "important-value"}},
    {"code": "win-back", "bonus_points": 11,
     "starts_at": "2000-01-01T00:00:00Z", "ends_at": "9999-01-01T00:00:00Z",
     "when": {"all": [
         {"fact": "member.segment", "op": "in", "value": ["important-keep", "important-retain"]},
         {"fact": "member.lifecycle_stage", "op": "==", "value": "lost"}]}},
]


class InsightTest(DaemonTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            cls.build()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def build(cls):
        d = cls.daemon
        r = d.request("PUT", "/v1/rules", rules_doc(PROMOTIONS))
        assert r.status == 200, r
        out = cls.cluster.psql(cls.db, "SELECT (now() AT TIME ZONE 'Asia/Shanghai')::date;")
        cls.today = datetime.date.fromisoformat(out.strip())
        cls.m = {}
        for name in NAMES:
            cls.m[name] = enroll(d, name="Insight " + name)
            num = int(cls.m[name]["id"].rpartition("_")[2])
            cls.cluster.psql(cls.db, "UPDATE members SET enrolled_at = '%s'::timestamptz,"
                             " enrolled_store = '%s' WHERE id = %d;"
                             % (cls.day(500), "S2" if name in S2 else "S1", num))
        for name in NAMES:
            for days, amount in sorted(PURCHASES[name], reverse=True):
                body = {"store_id": "S1", "terminal_id": "T1",
                        "pos_transaction_id": "INS-" + secrets.token_hex(6),
                        "member_id": cls.m[name]["id"], "occurred_at": cls.day(days),
                        "items": [{"sku": "x", "category": "dry", "quantity": 1,
                                   "unit_price": amount}]}
                r = d.request("POST", "/v1/purchases", body)
                assert r.status == 201, r
                # No segment yet: the promotions must not fire while building.
                assert r.json()["points_earned"] == amount // 100, r
        cls.run_job()

    @classmethod
    def day(cls, days_ago):
        return (cls.today - datetime.timedelta(days=days_ago)).isoformat() + "T12:00:00+08:00"

    @classmethod
    def date(cls, days_ago):
        return (cls.today - datetime.timedelta(days=days_ago)).isoformat()

    @classmethod
    def run_job(cls):
        r = cls.daemon.request("POST", "/v1/jobs/daily", {"date": cls.today.isoformat()})
        assert r.status == 200, r

    def setUp(self):
        super().setUp()
        self.addCleanup(self.assert_ledger_invariant)

    def report(self, path, expect=200, token=harness.ADMIN, csv_too=True):
        r = self.req("GET", path, token=token)
        self.assertEqual(r.status, expect, r)
        doc = r.json()
        if expect == 200 and csv_too:
            c = self.req("GET", path, headers={"Accept": "text/csv"})
            self.assertEqual(c.status, 200, c)
            self.assertTrue(c.headers["Content-Type"].startswith("text/csv"), c.headers)
            rows = list(csv.DictReader(io.StringIO(c.text, newline="")))
            self.assertEqual(len(rows), len(doc["items"]))
            for row, item in zip(rows, doc["items"]):
                self.assertEqual(list(row), list(item))
                for k, v in item.items():
                    got = row[k]
                    if isinstance(v, bool) or v is None:
                        self.fail("unexpected item value %r" % (v,))
                    elif isinstance(v, int):
                        self.assertEqual(int(got), v, k)
                    elif isinstance(v, float):
                        self.assertEqual(float(got), v, k)
                    else:
                        self.assertEqual(got, v, k)
        return doc

    def default_filters(self, **kw):
        f = {"store_id": None, "tier": None, "from": self.date(364),
             "to": self.today.isoformat()}
        f.update(kw)
        return f

    # ------------------------------------------------------------ members --

    def test_every_member_has_its_segment_and_stage(self):
        for name in NAMES:
            r = self.req("GET", "/v1/members/" + q(self.m[name]["id"]))
            self.assertEqual(r.status, 200, r)
            doc = r.json()
            self.assertEqual((doc["segment"], doc["lifecycle_stage"]),
                             (SEGMENT[name], STAGE[name]), name)
            self.assertEqual(list(doc)[-2:], ["segment", "lifecycle_stage"])
        self.assertEqual(self.m["A"]["segment"], None)  # at enrolment: no snapshot yet
        self.assertEqual(self.m["A"]["lifecycle_stage"], None)

    def test_me_shows_them_too(self):
        tok = harness.member_token(self.daemon, self.m["C"]["id"])["token"]
        r = self.req("GET", "/v1/me", token=tok)
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json()["segment"], r.json()["lifecycle_stage"]),
                         ("important-keep", "lost"))

    def test_snapshot_thresholds(self):
        out = self.psql("SELECT snapshot_date, period_from, high, recency_threshold,"
                        " frequency_threshold, monetary_threshold, members, buyers"
                        " FROM insight_snapshots WHERE snapshot_date = '%s';"
                        % self.today.isoformat())
        self.assertEqual(out.strip().split("|"),
                         [self.today.isoformat(), self.date(364), "mean", "90.0000", "2.2000",
                          "21200.0000", "12", "10"])
        rows = self.psql("SELECT m.name, i.recency_days, i.frequency, i.monetary"
                         " FROM member_insights i JOIN members m ON m.id = i.member_id"
                         " ORDER BY m.id;").split()
        got = {r.split("|")[0][-1]: r.split("|")[1:] for r in rows}
        for name in NAMES:
            buys = [p for p in PURCHASES[name] if p[0] <= 364]
            want = [str(min(p[0] for p in buys)) if buys else "", str(len(buys)),
                    str(sum(p[1] for p in buys))]
            self.assertEqual(got[name], want, name)

    def test_a_later_date_only_moves_the_snapshot_forward(self):
        before = self.fingerprint()
        r = self.req("POST", "/v1/jobs/daily", {"date": self.date(3)})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(
            [ln for ln in self.fingerprint().split("\n") if "insight" in ln],
            [ln for ln in before.split("\n") if "insight" in ln])

    # --------------------------------------------------------- promotions --

    def quote(self, name):
        body = {"store_id": "S1", "terminal_id": "T1", "pos_transaction_id": "Q-1",
                "member_id": self.m[name]["id"], "occurred_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                "items": [{"sku": "x", "category": "dry", "quantity": 1, "unit_price": 1000}]}
        r = self.req("POST", "/v1/purchases/quote", body)
        self.assertEqual(r.status, 200, r)
        return sorted(a["rule"] for a in r.json()["applied"] if a["kind"] == "promotion")

    def test_segment_promotions_fire_for_the_right_members_only(self):
        before = self.fingerprint()
        fired = {name: self.quote(name) for name in NAMES}
        self.assertEqual(fired, {
            "A": ["promotion:court-the-best"], "B": [], "C": ["promotion:win-back"],
            "D": ["promotion:win-back"], "E": [], "F": [], "G": [], "H": [], "I": [], "J": [],
            "K": [], "L": []})
        self.assertEqual(self.fingerprint(), before)

    # ------------------------------------------------------------ reports --

    def test_segments_report(self):
        doc = self.report("/v1/reports/segments")
        self.assertEqual(list(doc), ["filters", "snapshot_date", "total_members", "items",
                                     "by_tier"])
        self.assertEqual(doc["filters"], self.default_filters())
        self.assertEqual(doc["snapshot_date"], self.today.isoformat())
        self.assertEqual(doc["total_members"], 12)
        self.assertEqual(doc["items"], [
            {"segment": "important-value", "members": 1, "share": 0.0833, "spend": 40000,
             "spend_share": 0.1887},
            {"segment": "important-develop", "members": 1, "share": 0.0833, "spend": 50000,
             "spend_share": 0.2358},
            {"segment": "important-keep", "members": 1, "share": 0.0833, "spend": 40000,
             "spend_share": 0.1887},
            {"segment": "important-retain", "members": 1, "share": 0.0833, "spend": 60000,
             "spend_share": 0.283},
            {"segment": "general-value", "members": 1, "share": 0.0833, "spend": 3000,
             "spend_share": 0.0142},
            {"segment": "general-develop", "members": 2, "share": 0.1667, "spend": 6000,
             "spend_share": 0.0283},
            {"segment": "general-keep", "members": 1, "share": 0.0833, "spend": 3000,
             "spend_share": 0.0142},
            {"segment": "general-retain", "members": 2, "share": 0.1667, "spend": 10000,
             "spend_share": 0.0472},
            {"segment": "none", "members": 2, "share": 0.1667, "spend": 0, "spend_share": 0.0},
        ])
        self.assertEqual(doc["by_tier"], [{"tier": "basic", "members": 10},
                                          {"tier": "silver", "members": 2}])

    def test_segments_report_filters(self):
        doc = self.report("/v1/reports/segments?store_id=S2")
        self.assertEqual(doc["filters"], self.default_filters(store_id="S2"))
        self.assertEqual(doc["total_members"], 5)
        got = {i["segment"]: (i["members"], i["spend"]) for i in doc["items"]}
        self.assertEqual(got, {"important-value": (1, 40000), "important-develop": (0, 0),
                               "important-keep": (1, 40000), "important-retain": (0, 0),
                               "general-value": (1, 3000), "general-develop": (0, 0),
                               "general-keep": (1, 3000), "general-retain": (0, 0),
                               "none": (1, 0)})
        self.assertEqual(doc["items"][0]["share"], 0.2)
        self.assertEqual(doc["items"][0]["spend_share"], share(40000, 86000))
        self.assertEqual(doc["by_tier"], [{"tier": "basic", "members": 5},
                                          {"tier": "silver", "members": 0}])

        doc = self.report("/v1/reports/segments?tier=silver")
        self.assertEqual(doc["total_members"], 2)
        got = {i["segment"]: i["members"] for i in doc["items"] if i["members"]}
        self.assertEqual(got, {"important-develop": 1, "important-retain": 1})
        self.assertEqual(doc["items"][3]["spend_share"], share(60000, 110000))

        # The period picks the snapshot: none was taken before today.
        doc = self.report("/v1/reports/segments?from=%s&to=%s" % (self.date(3000), self.date(1)))
        self.assertEqual(doc["snapshot_date"], None)
        self.assertEqual(doc["total_members"], 0)
        self.assertEqual([i["members"] for i in doc["items"]], [0] * 9)
        self.assertEqual({i["share"] for i in doc["items"]}, {0.0})

    def test_lifecycle_report(self):
        doc = self.report("/v1/reports/lifecycle")
        self.assertEqual(list(doc), ["filters", "snapshot_date", "total_members", "items"])
        self.assertEqual(doc["filters"], self.default_filters())
        self.assertEqual(doc["snapshot_date"], self.today.isoformat())
        self.assertEqual(doc["total_members"], 12)
        self.assertEqual(doc["items"], [
            {"stage": "active", "members": 3, "share": 0.25},
            {"stage": "silent", "members": 2, "share": 0.1667},
            {"stage": "forgetting", "members": 3, "share": 0.25},
            {"stage": "lost", "members": 3, "share": 0.25},
            {"stage": "none", "members": 1, "share": 0.0833},
        ])
        doc = self.report("/v1/reports/lifecycle?store_id=S2&tier=basic")
        self.assertEqual(doc["filters"], self.default_filters(store_id="S2", tier="basic"))
        self.assertEqual([(i["stage"], i["members"]) for i in doc["items"]],
                         [("active", 1), ("silent", 1), ("forgetting", 1), ("lost", 2),
                          ("none", 0)])
        self.assertEqual(doc["items"][3]["share"], 0.4)

    def expect_deciles(self, spends):
        """spends: [(spend, members)] per decile from 1, the rest empty."""
        total = sum(s for s, _ in spends)
        margin = sum(s - s // 100 for s, _ in spends)
        items, cum = [], 0
        for k in range(10):
            s, n = spends[k] if k < len(spends) else (0, 0)
            cum += s
            items.append({"decile": k + 1, "members": n, "spend": s,
                          "spend_share": share(s, total), "cumulative_spend_share": share(cum, total),
                          "margin": s - s // 100, "margin_share": share(s - s // 100, margin)})
        return total, margin, items

    def test_concentration_report(self):
        doc = self.report("/v1/reports/concentration")
        self.assertEqual(list(doc), ["filters", "total_members", "total_spend", "total_margin",
                                     "items"])
        self.assertEqual(doc["filters"], self.default_filters())
        self.assertEqual(doc["total_members"], 10)
        self.assertEqual(doc["total_spend"], 212000)
        self.assertEqual(doc["total_margin"], 209880)
        # D, B, A, C (ties by member id), L, K, E, G, H, F.
        total, margin, items = self.expect_deciles(
            [(60000, 1), (50000, 1), (40000, 1), (40000, 1), (8000, 1), (5000, 1), (3000, 1),
             (3000, 1), (2000, 1), (1000, 1)])
        self.assertEqual(doc["items"], items)
        self.assertEqual(doc["items"][0]["spend_share"], 0.283)
        self.assertEqual(doc["items"][1]["cumulative_spend_share"], 0.5189)
        self.assertEqual(doc["items"][9]["cumulative_spend_share"], 1.0)
        # The default period is the snapshot's RFM period: the deciles come from it.
        rows = self.psql("SELECT decile, members, spend, margin FROM insight_deciles"
                         " WHERE snapshot_date = '%s' AND NOT by_store AND NOT by_tier"
                         " ORDER BY decile;" % self.today.isoformat()).split()
        self.assertEqual(rows, ["%d|%d|%d|%d" % (i["decile"], i["members"], i["spend"],
                                                 i["margin"]) for i in items])

    def test_concentration_reads_the_snapshot_for_its_period_only(self):
        self.psql("UPDATE insight_deciles SET spend = spend + 100, margin = margin + 1"
                  " WHERE snapshot_date = '%s' AND decile = 10 AND NOT by_store AND NOT by_tier;"
                  % self.today.isoformat())
        self.addCleanup(self.psql, "UPDATE insight_deciles SET spend = spend - 100,"
                        " margin = margin - 1 WHERE snapshot_date = '%s' AND decile = 10"
                        " AND NOT by_store AND NOT by_tier;" % self.today.isoformat())
        doc = self.report("/v1/reports/concentration", csv_too=False)
        self.assertEqual((doc["total_spend"], doc["total_margin"]), (212100, 209881))
        # Any other period is computed from the purchases.
        doc = self.report("/v1/reports/concentration?from=%s" % self.date(363), csv_too=False)
        self.assertEqual((doc["total_spend"], doc["total_margin"]), (212000, 209880))

    def test_concentration_report_filters(self):
        doc = self.report("/v1/reports/concentration?from=%s" % self.date(100))
        self.assertEqual(doc["filters"], self.default_filters(**{"from": self.date(100)}))
        # Within 100 days: B 50000, A 40000, L 4000, E 3000, K 2500, H 2000, F 1000.
        total, margin, items = self.expect_deciles(
            [(50000, 1), (40000, 1), (4000, 1), (3000, 1), (2500, 1), (2000, 1), (1000, 1)])
        self.assertEqual((doc["total_members"], doc["total_spend"], doc["total_margin"]),
                         (7, total, margin))
        self.assertEqual(doc["items"], items)

        doc = self.report("/v1/reports/concentration?store_id=S2")
        total, margin, items = self.expect_deciles([(40000, 1), (40000, 1), (3000, 1), (3000, 1)])
        self.assertEqual((doc["total_members"], doc["total_spend"]), (4, 86000))
        self.assertEqual(doc["items"], items)

        doc = self.report("/v1/reports/concentration?tier=silver&to=%s" % self.date(11))
        self.assertEqual(doc["filters"], self.default_filters(
            tier="silver", **{"from": self.date(11 + 364), "to": self.date(11)}))
        # B's purchase (10 days ago) is after `to`: only D.
        self.assertEqual((doc["total_members"], doc["total_spend"], doc["total_margin"]),
                         (1, 60000, 59400))
        self.assertEqual(doc["items"][0]["spend_share"], 1.0)
        self.assertEqual(doc["items"][1]["members"], 0)

        # I's only purchase, 400 days ago.
        doc = self.report("/v1/reports/concentration?from=%s&to=%s"
                          % (self.date(401), self.date(399)))
        self.assertEqual((doc["total_members"], doc["total_spend"]), (1, 3000))

    def test_bad_filters_are_400_and_change_nothing(self):
        before = self.fingerprint()
        for path in ("segments", "lifecycle", "concentration"):
            for query in ("store_id=bad!", "tier=", "from=2026-02-30", "to=yesterday",
                          "from=2026-05-02&to=2026-05-01", "from=2000-01-01&to=2026-05-01",
                          "foo=1", "tier=a&tier=b",
                          "from=%s" % (self.today + datetime.timedelta(days=1)).isoformat()):
                r = self.req("GET", "/v1/reports/%s?%s" % (path, query))
                assert_problem(self, r, 400, "validation_failed")
        self.assertEqual(self.fingerprint(), before)

    def test_reports_are_for_admins_only(self):
        pos = make_key(self.daemon, "pos")["key"]
        app = make_key(self.daemon, "app")["key"]
        tok = harness.member_token(self.daemon, self.m["A"]["id"])["token"]
        for path in ("segments", "lifecycle", "concentration"):
            for token in (pos, app, tok):
                r = self.req("GET", "/v1/reports/" + path, token=token)
                assert_problem(self, r, 403, "forbidden")
            r = self.req("GET", "/v1/reports/" + path, token=None)
            assert_problem(self, r, 401, "unauthorized")

    # ----------------------------------------------------------- settings --

    def test_settings_are_echoed_and_validated(self):
        r = self.req("GET", "/v1/rules")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["rules"]["insight"],
                         {"rfm_period_days": 365, "high": "mean",
                          "lifecycle_days": {"silent": 30, "forgetting": 90, "lost": 180}})
        before = self.fingerprint()
        bad = rules_doc()
        bad["insight"] = {"rfm_period_days": 0, "high": "mode", "extra": 1,
                          "lifecycle_days": {"silent": 90, "forgetting": 90, "lost": "x"}}
        r = self.req("PUT", "/v1/rules", bad)
        assert_problem(self, r, 400, "validation_failed")
        fields = sorted(f["field"] for f in r.json()["errors"])
        self.assertEqual(fields, ["$.insight.extra", "$.insight.high",
                                  "$.insight.lifecycle_days.lost",
                                  "$.insight.rfm_period_days"])
        bad["insight"] = {"lifecycle_days": {"silent": 30, "forgetting": 30}}
        r = self.req("PUT", "/v1/rules", bad)
        assert_problem(self, r, 400, "validation_failed")
        self.assertEqual([f["field"] for f in r.json()["errors"]],
                         ["$.insight.lifecycle_days.forgetting"])
        bad["insight"] = {"lifecycle_days": {"lost": 90}}
        r = self.req("PUT", "/v1/rules", bad)
        assert_problem(self, r, 400, "validation_failed")
        self.assertEqual([f["field"] for f in r.json()["errors"]],
                         ["$.insight.lifecycle_days.lost"])
        self.assertEqual(self.fingerprint(), before)

    def test_median_and_shorter_lifecycle_settings(self):
        def restore():
            r = self.req("PUT", "/v1/rules", rules_doc(PROMOTIONS))
            self.assertEqual(r.status, 200, r)
            self.run_job()
        self.addCleanup(restore)
        doc = rules_doc(PROMOTIONS, high="median")
        r = self.req("PUT", "/v1/rules", doc)
        self.assertEqual(r.status, 200, r)
        self.run_job()
        # Medians: R (89 + 90) / 2 = 89.5, F (2 + 2) / 2 = 2, M (5000 + 8000) / 2 = 6500.
        out = self.psql("SELECT high, recency_threshold, frequency_threshold, monetary_threshold"
                        " FROM insight_snapshots WHERE snapshot_date = '%s';"
                        % self.today.isoformat())
        self.assertEqual(out.strip().split("|"), ["median", "89.5000", "2.0000", "6500.0000"])
        want = dict(SEGMENT, L="important-retain")  # M 8000 > 6500; K (F 2 = median) stays low
        for name in NAMES:
            r = self.req("GET", "/v1/members/" + q(self.m[name]["id"]))
            self.assertEqual(r.json()["segment"], want[name], name)

        # Stages follow the settings: lost after 100 days now.
        doc = rules_doc(PROMOTIONS)
        doc["insight"]["lifecycle_days"] = {"silent": 10, "forgetting": 50, "lost": 100}
        r = self.req("PUT", "/v1/rules", doc)
        self.assertEqual(r.status, 200, r)
        self.run_job()
        rep = self.report("/v1/reports/lifecycle", csv_too=False)
        # active: A(5); silent: B(10) F(29) E(30); forgetting: K(89) L(90) H(100);
        # lost: G(180) D(181) C(186) I(400); none: J.
        self.assertEqual([i["members"] for i in rep["items"]], [1, 3, 3, 4, 1])

    def test_quantile_setting(self):
        def restore():
            r = self.req("PUT", "/v1/rules", rules_doc(PROMOTIONS))
            self.assertEqual(r.status, 200, r)
            self.run_job()
        self.addCleanup(restore)
        doc = rules_doc(PROMOTIONS, high="quantile")
        doc["insight"]["quantile"] = 0.8
        r = self.req("PUT", "/v1/rules", doc)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["rules"]["insight"]["quantile"], 0.8)
        self.run_job()
        # The ten buyers' 0.8-quantiles (percentile_disc: the 8th of 10 sorted values):
        # F 1,1,1,1,2,2,3,3,4,4 -> 3; M ... 40000,40000,50000,60000 -> 40000; and R's
        # 0.2-quantile (the 2nd of 5,10,29,...) -> 10.  High: F > 3, M > 40000, R < 10.
        out = self.psql("SELECT high, recency_threshold, frequency_threshold, monetary_threshold"
                        " FROM insight_snapshots WHERE snapshot_date = '%s';"
                        % self.today.isoformat())
        self.assertEqual(out.strip().split("|"), ["quantile", "10.0000", "3.0000", "40000.0000"])
        want = {"A": "general-value", "B": "important-retain", "C": "general-keep",
                "D": "important-retain", "E": "general-retain", "F": "general-retain",
                "G": "general-retain", "H": "general-retain", "I": None, "J": None,
                "K": "general-retain", "L": "general-retain"}
        for name in NAMES:
            r = self.req("GET", "/v1/members/" + q(self.m[name]["id"]))
            self.assertEqual(r.json()["segment"], want[name], name)
        for insight, field in (({"high": "mean", "quantile": 0.8}, "$.insight.quantile"),
                               ({"high": "quantile"}, "$.insight.quantile"),
                               ({"high": "quantile", "quantile": 1}, "$.insight.quantile"),
                               ({"high": "quantile", "quantile": 0.555}, "$.insight.quantile")):
            bad = rules_doc(PROMOTIONS)
            bad["insight"].update(insight)
            r = self.req("PUT", "/v1/rules", bad)
            assert_problem(self, r, 400, "validation_failed")
            self.assertIn(field, [e["field"] for e in r.json()["errors"]], insight)


class SegmentPurchaseTest(DaemonTestCase):
    """A purchase (not only a quote) applies a promotion on member.segment
    once the daily job has put the member in the segment, and only then."""

    def setUp(self):
        super().setUp()
        self.addCleanup(self.assert_ledger_invariant)

    def post(self, member, amount, occurred_at):
        body = {"store_id": "S1", "terminal_id": "T1",
                "pos_transaction_id": "INS-" + secrets.token_hex(6), "member_id": member["id"],
                "occurred_at": occurred_at,
                "items": [{"sku": "x", "category": "dry", "quantity": 1, "unit_price": amount}]}
        r = self.req("POST", "/v1/purchases", body)
        self.assertEqual(r.status, 201, r)
        return r.json()

    def test_purchase_bonus_for_the_segment(self):
        r = self.req("PUT", "/v1/rules", rules_doc(PROMOTIONS))
        self.assertEqual(r.status, 200, r)
        today = datetime.date.fromisoformat(self.psql(
            "SELECT (now() AT TIME ZONE 'Asia/Shanghai')::date;").strip())

        def at(days):
            return (today - datetime.timedelta(days=days)).isoformat() + "T12:00:00+08:00"
        x, y = enroll(self.daemon), enroll(self.daemon)
        self.psql("UPDATE members SET enrolled_at = '%s' WHERE id IN (%s, %s);"
                  % (at(300), x["id"][4:], y["id"][4:]))
        for m, days, amount in ((x, 1, 10000), (x, 1, 10000), (y, 200, 100)):
            p = self.post(m, amount, at(days))
            self.assertEqual([a for a in p["applied"] if a["kind"] == "promotion"], [])
        r = self.req("POST", "/v1/jobs/daily", {"date": today.isoformat()})
        self.assertEqual(r.status, 200, r)
        # R mean (1 + 200) / 2, F mean 1.5, M mean 10050: x is high on all three.
        got = [(self.req("GET", "/v1/members/" + m["id"]).json()["segment"]) for m in (x, y)]
        self.assertEqual(got, ["important-value", "general-retain"])
        now = datetime.datetime.now(datetime.timezone.utc).isoformat()
        px, py = self.post(x, 1000, now), self.post(y, 1000, now)
        self.assertEqual([(a["rule"], a.get("points")) for a in px["applied"]
                          if a["kind"] == "promotion"], [("promotion:court-the-best", 77)])
        self.assertEqual(px["points_earned"], 10 + 77)
        self.assertEqual([a for a in py["applied"] if a["kind"] == "promotion"], [])
        self.assertEqual(py["points_earned"], 10)

        # A simulation reads the members' segments too: the same rules change
        # nothing over the last two purchases, and rules without the promotion
        # take x's 77 points away.
        window = {"from": (datetime.datetime.now(datetime.timezone.utc)
                           - datetime.timedelta(hours=1)).isoformat(),
                  "to": (datetime.datetime.now(datetime.timezone.utc)
                         + datetime.timedelta(hours=1)).isoformat()}
        r = self.req("POST", "/v1/rules/simulate", dict(window, rules=rules_doc(PROMOTIONS)))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["points"], {"actual": 97, "simulated": 97, "difference": 0})
        r = self.req("POST", "/v1/rules/simulate", dict(window, rules=rules_doc()))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["points"], {"actual": 97, "simulated": 20, "difference": -77})


if __name__ == "__main__":
    harness.main()
