"""Health, readiness, metrics, X-Request-Id, access log and graceful SIGTERM."""

import http.client
import re
import signal
import threading

import harness
from harness import DaemonTestCase, assert_problem, enroll, q

SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """Prometheus text -> list of (name, {label: value}, float)."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE_RE.match(line)
        if not m:
            raise AssertionError("not a Prometheus sample line: %r" % line)
        labels = dict(LABEL_RE.findall(m.group(2) or ""))
        out.append((m.group(1), labels, float(m.group(3))))
    return out


def metric_sum(samples, name, **labels):
    return sum(v for n, ls, v in samples
               if n == name and all(ls.get(k) == want for k, want in labels.items()))


class HealthTest(DaemonTestCase):

    def metrics(self):
        r = self.req("GET", "/metrics", token=None)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.headers.get("Content-Type", "").startswith("text/plain"), r.headers)
        return parse_metrics(r.text)

    def test_healthz(self):
        r = self.req("GET", "/healthz", token=None)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.headers.get("Content-Type", "").startswith("application/json"))
        self.assertEqual(r.json(), {"status": "ok"})
        self.assertTrue(r.headers.get("X-Request-Id"))

    def test_readyz(self):
        r = self.req("GET", "/readyz", token=None)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.headers.get("X-Request-Id"))

    def test_metrics_counts_exactly(self):
        before = self.metrics()
        n = 7
        for _ in range(n):
            self.assertEqual(self.req("GET", "/healthz", token=None).status, 200)
        after = self.metrics()
        lab = {"route": "/healthz", "method": "GET", "status": "200"}
        self.assertEqual(metric_sum(after, "loyalty_http_requests_total", **lab)
                         - metric_sum(before, "loyalty_http_requests_total", **lab), n)
        inf = dict(lab, le="+Inf")
        self.assertEqual(
            metric_sum(after, "loyalty_http_request_duration_seconds_bucket", **inf)
            - metric_sum(before, "loyalty_http_request_duration_seconds_bucket", **inf), n)
        names = {s[0] for s in after}
        self.assertIn("loyalty_db_pool_in_use", names)
        # --threads 2 and the pool at its default (8): the pool's eight and
        # four of each worker's own.
        self.assertEqual(metric_sum(after, "loyalty_db_pool_size"), 16)
        # buckets are cumulative
        buckets = [(float(ls["le"]), v) for nm, ls, v in after
                   if nm == "loyalty_http_request_duration_seconds_bucket"
                   and all(ls.get(k) == w for k, w in lab.items())]
        buckets.sort()
        self.assertTrue(buckets)
        self.assertEqual([v for _, v in buckets], sorted(v for _, v in buckets))

    def test_metrics_route_template_not_raw_path(self):
        m = enroll(self.daemon)
        self.assertEqual(self.req("GET", "/v1/members/" + q(m["id"])).status, 200)
        samples = self.metrics()
        routes = {ls.get("route") for n, ls, v in samples if n == "loyalty_http_requests_total"}
        self.assertIn("/v1/members/{id}", routes)
        self.assertNotIn("/v1/members/" + m["id"], routes)

    def test_request_id_echoed_when_valid(self):
        for rid in ("abc-123_X.y", "a", "Z" * 128):
            r = self.req("GET", "/healthz", token=None, headers={"X-Request-Id": rid})
            self.assertEqual(r.headers.get("X-Request-Id"), rid)
        # on errors too
        r = self.req("GET", "/v1/no-such-route", token=None, headers={"X-Request-Id": "err-1"})
        assert_problem(self, r, 404, "not_found")
        self.assertEqual(r.headers.get("X-Request-Id"), "err-1")

    def test_request_id_generated_when_absent_or_invalid(self):
        seen = set()
        for sent in (None, None, "x" * 200, "Z" * 129, "has space", "semi;colon", "ünï"):
            hdrs = {} if sent is None else {"X-Request-Id": sent}
            try:
                r = self.req("GET", "/healthz", token=None, headers=hdrs)
            except UnicodeEncodeError:
                continue  # http.client cannot send non-latin-1 header values
            rid = r.headers.get("X-Request-Id")
            self.assertTrue(rid, "no X-Request-Id generated for %r" % sent)
            self.assertNotEqual(rid, sent)
            self.assertNotIn(rid, seen, "X-Request-Id repeated")
            seen.add(rid)

    def test_access_log_line(self):
        name = "Log Secret Name %d" % harness.unique_int()
        phone = harness.unique_phone()
        m = enroll(self.daemon, name=name, phone=phone)
        tok = harness.member_token(self.daemon, m["id"])["token"]
        rid = "logcheck-%d" % harness.unique_int()
        r = self.req("GET", "/v1/members/" + q(m["id"]), headers={"X-Request-Id": rid})
        self.assertEqual(r.status, 200)
        self.assertEqual(self.req("GET", "/v1/me", token=tok).status, 200)

        def find():
            return [ln for ln in self.daemon.log_json()
                    if ln.get("request_id") == rid and "route" in ln]
        lines, _ = harness.poll_until(find, 5.0)
        self.assertEqual(len(lines or []), 1, "access line for %s:\n%s"
                         % (rid, self.daemon.log_tail()))
        line = lines[0]
        for k in ("method", "route", "status", "us", "request_id"):
            self.assertIn(k, line)
        self.assertEqual(line["method"], "GET")
        self.assertEqual(line["route"], "/v1/members/{id}")
        self.assertEqual(int(line["status"]), 200)
        self.assertIsInstance(line["us"], int)
        self.assertGreaterEqual(line["us"], 0)
        log = self.daemon.log()
        raw_path = "/v1/members/" + m["id"]
        self.assertNotIn(raw_path, log, "the raw path (with the member id) is logged")
        for ln in self.daemon.log_json():
            if "route" in ln:
                self.assertTrue(ln["route"] == "unmatched" or "/" not in ln["route"] or
                                not re.search(r"/\d+(/|$)", ln["route"]),
                                "route is not a template: %r" % ln)
        for secret in (name, phone, phone[1:], tok, self.daemon.admin_key):
            self.assertNotIn(secret, log, "log contains %r" % secret)


class GracefulStopTest(DaemonTestCase):
    """SIGTERM with requests in flight: complete answers only, exit 0."""

    def test_sigterm_with_requests_in_flight(self):
        d = self.daemon
        nthreads = 6
        started = threading.Barrier(nthreads + 1)
        warm = threading.Semaphore(0)
        stop = threading.Event()
        term_sent = threading.Event()
        answered = [0]
        problems = []

        def worker():
            started.wait()
            done = 0
            while not stop.is_set():
                body = {"name": "Burst %d" % harness.unique_int(),
                        "phone": harness.unique_phone()}
                try:
                    r = d.request("POST", "/v1/members", body, timeout=20)
                except http.client.IncompleteRead as e:
                    problems.append("incomplete response: %r" % e)
                    return
                except (OSError, http.client.HTTPException) as e:
                    if not term_sent.is_set():
                        problems.append("error before SIGTERM: %r" % e)
                    return  # no answer at all after SIGTERM is fine
                answered[0] += 1
                cl = r.headers.get("Content-Length")
                if cl is not None and int(cl) != len(r.body):
                    problems.append("short body: %r" % r)
                if r.headers.get("Content-Type", "").startswith(
                        ("application/json", "application/problem+json")):
                    try:
                        r.json()
                    except ValueError:
                        problems.append("truncated JSON: %r" % r)
                if r.status != 201 and not term_sent.is_set():
                    problems.append("unexpected before SIGTERM: %r" % r)
                done += 1
                if done == 3:
                    warm.release()

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(nthreads)]
        for t in threads:
            t.start()
        started.wait()
        for _ in range(nthreads):
            self.assertTrue(warm.acquire(timeout=30), "burst did not get going: %r" % problems)
        term_sent.set()
        d.signal(signal.SIGTERM)
        try:
            d.stop()  # waits <= 20 s, asserts exit 0 and no sanitizer report
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=30)
        self.assertEqual(problems, [])
        self.assertGreaterEqual(answered[0], 3 * nthreads)


if __name__ == "__main__":
    harness.main()
