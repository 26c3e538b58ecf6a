"""Database outage: 503 unavailable quickly, health stays up, recovery without restart."""

import unittest

import harness
from harness import Daemon, OwnCluster, assert_problem, enroll, make_key, poll_until, q

LEAKS = (".s.PGSQL", "SELECT", "INSERT", "UPDATE ", "FATAL", "libpq", "server closed",
         "could not connect", "Connection refused", "PQ")


class OutageTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.cluster = OwnCluster()
        try:
            cls.db = cls.cluster.create_database()
            cls.daemon = Daemon(cls.db)
        except BaseException:
            cls.cluster.destroy()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.daemon.stop()
            cls.daemon.cleanup()
        finally:
            cls.cluster.destroy()

    def db_requests(self, m, app_key):
        """Requests that need the database: (label, method, path, body, token)."""
        mid = q(m["id"])
        return [
            ("get member", "GET", "/v1/members/" + mid, None, harness.ADMIN),
            ("balance", "GET", "/v1/members/%s/balance" % mid, None, harness.ADMIN),
            ("look up", "GET", "/v1/members?card_number=" + q(m["card_number"]), None,
             harness.ADMIN),
            ("enroll", "POST", "/v1/members", {"name": "During outage"}, harness.ADMIN),
            ("patch", "PATCH", "/v1/members/" + mid, {"name": "x"}, harness.ADMIN),
            ("issue token", "POST", "/v1/members/%s/tokens" % mid, {}, app_key),
            ("list keys", "GET", "/v1/keys", None, harness.ADMIN),
            ("create key", "POST", "/v1/keys", {"name": "o", "role": "app"}, harness.ADMIN),
        ]

    def test_outage_and_recovery(self):
        d = self.daemon
        m = enroll(d, name="Before Outage", card_number=harness.unique_card())
        app_key = make_key(d, "app")["key"]
        unseen_key = make_key(d, "pos")["key"]  # never used before the outage: not cached
        self.assertEqual(d.request("GET", "/v1/members/" + q(m["id"])).status, 200)
        self.assertEqual(d.request("GET", "/readyz", token=None).status, 200)

        self.cluster.stop("fast")

        reqs = self.db_requests(m, app_key)
        reqs.append(("uncached key", "GET", "/v1/members/" + q(m["id"]), None, unseen_key))
        for rnd in range(2):  # twice: every pooled connection is broken, not just one
            for label, method, path, body, token in reqs:
                with self.subTest(round=rnd, req=label):
                    r = d.request(method, path, body, token=token, timeout=15)
                    self.assertLessEqual(r.elapsed, 5.0, "%s took %.2f s" % (label, r.elapsed))
                    assert_problem(self, r, 503, "unavailable")
                    for leak in LEAKS:
                        self.assertNotIn(leak, r.text, "5xx leaks internals: %r" % r)
        r = d.request("GET", "/healthz", token=None, timeout=15)
        self.assertEqual(r.status, 200, r)
        self.assertLessEqual(r.elapsed, 5.0)
        r = d.request("GET", "/readyz", token=None, timeout=15)
        self.assertLessEqual(r.elapsed, 5.0)
        assert_problem(self, r, 503, "unavailable")
        r = d.request("GET", "/metrics", token=None, timeout=15)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(d.alive(), "daemon died during the outage:\n" + d.log_tail())

        self.cluster.start()

        ok, took = poll_until(
            lambda: d.request("GET", "/v1/members/" + q(m["id"]), timeout=5).status == 200,
            10.0, interval=0.1)
        self.assertTrue(ok, "no recovery %.1f s after the database came back:\n%s"
                        % (took, d.log_tail()))
        ok, _ = poll_until(lambda: d.request("GET", "/readyz", token=None).status == 200, 10.0,
                           interval=0.1)
        self.assertTrue(ok, "/readyz stays 503 after recovery")
        # every pooled connection works again (more requests than pool connections),
        # and so do the asynchronous reader's
        for i in range(10):
            r = d.request("GET", "/v1/members/" + q(m["id"]))
            self.assertEqual(r.status, 200, r)
        ok, _ = poll_until(lambda: d.request("GET", "/v1/members/%s/balance" % q(m["id"]))
                           .status == 200, 10.0, interval=0.1)
        self.assertTrue(ok, "balance reads stay unavailable after recovery:\n" + d.log_tail())
        for i in range(10):
            r = d.request("GET", "/v1/members/%s/balance" % q(m["id"]))
            self.assertEqual((r.status, r.json()["member_id"]), (200, m["id"]), r)
        m2 = enroll(d, name="After Outage")
        self.assertEqual(d.request("GET", "/v1/members/" + q(m2["id"])).json()["name"],
                         "After Outage")
        self.assertEqual(d.request("GET", "/v1/me",
                                   token=harness.member_token(d, m2["id"], token=app_key)
                                   ["token"]).status, 200)
        self.assertEqual(d.request("GET", "/v1/members/" + q(m["id"]),
                                   token=unseen_key).status, 200)
        # nothing written during the outage
        names = self.cluster.psql(self.db, "SELECT name FROM members ORDER BY name;")
        self.assertNotIn("During outage", names)


if __name__ == "__main__":
    harness.main(need_cluster=False)
