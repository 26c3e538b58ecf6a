"""Fixtures for the loyaltyd integration tests (Python 3.11 stdlib only).

The test command exports:
  LOYALTYD               absolute path of the daemon binary (unset: every module exits 77)
  LOYALTY_SQL_DIR        absolute path of sql/migrations
  LOYALTY_TEST_PGHOST    unix-socket directory of the shared throwaway cluster
  LOYALTY_TEST_PGPORT    its port
  LOYALTY_TEST_PGUSER    a superuser role on it
  LOYALTY_TEST_PGBIN     PostgreSQL binaries (default /usr/lib/postgresql/15/bin)
  LOYALTY_TEST_RUNAS     empty, or the user that must run initdb/pg_ctl (we are root)
Optional: LOYALTY_TEST_KEEP=1 keeps databases and temp dirs for post-mortems.

Main pieces:
  Cluster()                      the shared cluster; create_database(), psql(db, sql)
  OwnCluster()                   a private cluster that may be stopped and started
  Daemon(dburl, ...)             one loyaltyd process on a free port; request(), stop()
  DaemonTestCase                 unittest base: a database and a daemon per class
  assert_problem, db_fingerprint, db_dump, make_key, enroll, poll_until, ...

Every test module calls `harness.main()` instead of `unittest.main()`: it exits
77 when LOYALTYD (or the cluster it needs) is not configured.
"""

import atexit
import datetime
import http.client
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

SKIP = 77
SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")

# Sentinel default for Daemon.request(token=...): use the daemon's admin key.
ADMIN = object()

_KEEP = os.environ.get("LOYALTY_TEST_KEEP") == "1"
_live_procs = []  # processes we started and have not reaped yet


@atexit.register
def _kill_leftovers():
    for p in list(_live_procs):
        if p.poll() is None:
            try:
                p.kill()
                p.wait(timeout=10)
            except Exception:
                pass


def env_configured(need_cluster=True):
    """Returns None when the environment allows the tests to run, else why not."""
    if not os.environ.get("LOYALTYD"):
        return "LOYALTYD is not set"
    if need_cluster:
        for v in ("LOYALTY_TEST_PGHOST", "LOYALTY_TEST_PGPORT", "LOYALTY_TEST_PGUSER"):
            if not os.environ.get(v):
                return v + " is not set"
    return None


def main(need_cluster=True):
    """unittest.main() for a test module, exiting 77 when not configured.

    Called from anywhere but the module's top level (inside a class body,
    say), unittest would run only the tests defined before the call and
    report success: refused."""
    caller = sys._getframe(1)
    if caller.f_code.co_name != "<module>" or caller.f_globals.get("__name__") != "__main__":
        raise AssertionError("harness.main() must be called at the top level of the test "
                             "module, under `if __name__ == \"__main__\":`")
    why = env_configured(need_cluster)
    if why is not None:
        print("SKIP: " + why, file=sys.stderr)
        sys.exit(SKIP)
    unittest.main(verbosity=2)


def pg_bin(name):
    d = os.environ.get("LOYALTY_TEST_PGBIN") or "/usr/lib/postgresql/15/bin"
    p = os.path.join(d, name)
    if os.path.exists(p):
        return p
    found = shutil.which(name)
    if found is None:
        raise RuntimeError("cannot find %s in %s or on PATH" % (name, d))
    return found


def free_port():
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tag():
    base = os.path.splitext(os.path.basename(sys.argv[0] or "t"))[0]
    base = re.sub(r"[^a-z0-9]", "", base.lower().replace("test_", ""))[:16] or "t"
    return base


def conninfo(host, port, user, dbname):
    def q(v):
        v = str(v)
        if v and re.fullmatch(r"[A-Za-z0-9_./-]+", v):
            return v
        return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return "host=%s port=%s user=%s dbname=%s" % (q(host), q(port), q(user), q(dbname))


def _dbname_of(conn):
    m = re.search(r"(?:^|\s)dbname=('(?:[^'\\]|\\.)*'|\S+)", conn)
    if not m:
        return conn
    v = m.group(1)
    if v.startswith("'"):
        v = re.sub(r"\\(.)", r"\1", v[1:-1])
    return v


def quote_ident(name):
    return '"' + name.replace('"', '""') + '"'


def quote_literal(s):
    return "'" + str(s).replace("'", "''") + "'"


# --------------------------------------------------------------------------- clusters

class Cluster:
    """Handle to a running PostgreSQL cluster (by default the shared one)."""

    def __init__(self, host=None, port=None, user=None):
        self.host = host or os.environ["LOYALTY_TEST_PGHOST"]
        self.port = int(port or os.environ["LOYALTY_TEST_PGPORT"])
        self.user = user or os.environ["LOYALTY_TEST_PGUSER"]
        self._created = []

    def url(self, dbname="postgres"):
        return conninfo(self.host, self.port, self.user, dbname)

    def psql(self, db, sql, check=True, timeout=60):
        """Runs `sql` (any number of statements) in `db`, a database name or a
        conninfo string; returns stdout (unaligned, tuples only)."""
        target = db if "=" in db else self.url(db)
        env = dict(os.environ)
        env.setdefault("PGCONNECT_TIMEOUT", "10")
        for v in ("PGSERVICE", "PGOPTIONS", "PGDATABASE"):
            env.pop(v, None)
        p = subprocess.run([pg_bin("psql"), "-XAtq", "-v", "ON_ERROR_STOP=1", "-d", target],
                           input=sql.encode("utf-8"), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=env, timeout=timeout)
        if check and p.returncode != 0:
            raise RuntimeError("psql failed (%d) on %r:\n%s" % (
                p.returncode, sql[:300], p.stderr.decode("utf-8", "replace")))
        return p.stdout.decode("utf-8")

    def create_database(self):
        """A fresh, uniquely named UTF-8 database; returns its conninfo string."""
        name = "lt_%s_%d_%s" % (_tag(), os.getpid(), secrets.token_hex(4))
        enc = self.psql("postgres", "SHOW server_encoding;").strip()
        if enc.upper() in ("UTF8", "UTF-8"):
            self.psql("postgres", "CREATE DATABASE %s;" % quote_ident(name))
        else:
            self.psql("postgres", "CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8' "
                      "LC_COLLATE 'C' LC_CTYPE 'C';" % quote_ident(name))
        self._created.append(name)
        return self.url(name)

    def drop_database(self, db):
        if _KEEP:
            return
        name = _dbname_of(db)
        self.psql("postgres", "DROP DATABASE IF EXISTS %s WITH (FORCE);" % quote_ident(name),
                  check=False)
        if name in self._created:
            self._created.remove(name)


def _runas():
    u = os.environ.get("LOYALTY_TEST_RUNAS", "")
    if not u and os.geteuid() == 0:
        u = "postgres"  # initdb refuses to run as root
    return u


class OwnCluster(Cluster):
    """A private cluster in a temp dir (trust auth, superuser `loyalty`, unix
    socket only) that a test may stop and start at will."""

    def __init__(self, user="loyalty"):
        self.runas = _runas()
        parent = "/tmp" if self.runas else None
        self.dir = tempfile.mkdtemp(prefix="lt-pg-", dir=parent)
        self.data = os.path.join(self.dir, "data")
        self.sock = self.dir
        self.logfile = os.path.join(self.dir, "postgres.log")
        os.chmod(self.dir, 0o755)
        if self.runas:
            shutil.chown(self.dir, self.runas, None)
        super().__init__(host=self.sock, port=free_port(), user=user)
        self.running = False
        self._run([pg_bin("initdb"), "-D", self.data, "-A", "trust", "-U", user,
                   "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("\n# loyaltyd integration tests\n"
                    "listen_addresses = ''\n"
                    "port = %d\n"
                    "unix_socket_directories = '%s'\n"
                    "fsync = off\n"
                    "full_page_writes = off\n"
                    "synchronous_commit = off\n"
                    "max_connections = 100\n" % (self.port, self.sock))
        self.start()

    def _run(self, argv, timeout=120):
        if self.runas:
            argv = ["runuser", "-u", self.runas, "--"] + argv
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout, cwd=self.dir)
        if p.returncode != 0:
            raise RuntimeError("%s failed (%d):\n%s" % (
                " ".join(shlex.quote(a) for a in argv), p.returncode,
                p.stdout.decode("utf-8", "replace")[-3000:]))
        return p.stdout.decode("utf-8", "replace")

    def start(self):
        self._run([pg_bin("pg_ctl"), "-D", self.data, "-l", self.logfile, "-w", "-t", "60",
                   "start"])
        self.running = True

    def stop(self, mode="fast"):
        self._run([pg_bin("pg_ctl"), "-D", self.data, "-m", mode, "-w", "-t", "60", "stop"])
        self.running = False

    def destroy(self):
        if self.running:
            try:
                self.stop(mode="immediate")
            except Exception as e:  # keep going: the directory must still go
                print("OwnCluster.destroy: %s" % e, file=sys.stderr)
        if not _KEEP:
            shutil.rmtree(self.dir, ignore_errors=True)


# --------------------------------------------------------------------------- database checks

def _public_tables(cluster, db):
    out = cluster.psql(db, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                           "ORDER BY 1;")
    return [t for t in out.split("\n") if t]


def db_fingerprint(cluster, db, exclude=()):
    """One line per table of schema public, `table:rows:md5`, over every row.
    Equal fingerprints mean no row was added, removed or changed. One psql run."""
    skip = "".join(" AND tablename <> %s" % quote_literal(t) for t in exclude)
    sql = ("SELECT format('SELECT %%L || '':'' || count(*) || '':'' || coalesce(md5("
           "string_agg(t::text, '','' ORDER BY t::text)), ''-'') FROM %%I t', "
           "tablename, tablename) FROM pg_tables WHERE schemaname = 'public'%s "
           "ORDER BY tablename \\gexec\n" % skip)
    return cluster.psql(db, sql).strip()


def db_dump(cluster, db):
    """Every row of every table of schema public as text (to search for secrets)."""
    out = []
    for t in _public_tables(cluster, db):
        out.append("== " + t)
        out.append(cluster.psql(db, "SELECT t::text FROM %s t;" % quote_ident(t)))
    return "\n".join(out)


# --------------------------------------------------------------------------- HTTP

class Response:
    def __init__(self, status, reason, headers, body, elapsed):
        self.status = status
        self.reason = reason
        self.headers = headers  # http.client.HTTPMessage: case-insensitive get()
        self.body = body
        self.elapsed = elapsed

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<Response %d %s>" % (self.status, self.text[:400])


_RETRYABLE = (http.client.RemoteDisconnected, http.client.CannotSendRequest,
              http.client.BadStatusLine, ConnectionResetError, BrokenPipeError,
              ConnectionAbortedError)


class Daemon:
    """One loyaltyd process on a free 127.0.0.1 port.

    request() uses one keep-alive connection per calling thread."""

    def __init__(self, dburl, admin_key=None, extra_env=None, args=(), threads=2,
                 wait_ready=True, start_timeout=30.0, stderr_pipe=False):
        # stderr_pipe: stderr goes to self.proc.stderr, a pipe the test reads
        # (or leaves unread); stdout still goes to the log file.
        self.stderr_pipe = stderr_pipe
        self.dburl = dburl
        self.admin_key = admin_key or ("lk_test_" + secrets.token_hex(16))
        self.extra_env = dict(extra_env or {})
        self.args = list(args)
        self.threads = threads
        self.tmp = tempfile.mkdtemp(prefix="lt-d-")
        self.logpath = os.path.join(self.tmp, "loyaltyd.log")
        self.proc = None
        self.returncode = None
        self._termed = False
        self._local = threading.local()
        self._conns = []
        self._conns_lock = threading.Lock()
        self.timeout = 30.0
        last = None
        for _ in range(3):
            self.port = free_port()
            try:
                self._start(start_timeout, wait_ready)
                return
            except _PortTaken as e:
                last = e
        raise AssertionError("loyaltyd could not bind a port: %s" % last)

    # -- process

    def env(self):
        env = dict(os.environ)
        for v in ("LOYALTY_LISTEN", "LOYALTY_THREADS", "LOYALTY_POOL_SIZE",
                  "LOYALTY_BODY_LIMIT"):
            env.pop(v, None)
        env.update({
            "DATABASE_URL": self.dburl,
            "LOYALTY_ADMIN_KEY": self.admin_key,
            "LOYALTY_LOG_LEVEL": "info",
            "LOYALTY_DAILY_JOB": "off",  # its start-up run would write into every test's database
            "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=23",
            "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
        })
        if os.environ.get("LOYALTY_SQL_DIR"):
            env["LOYALTY_SQL_DIR"] = os.environ["LOYALTY_SQL_DIR"]
        for k, v in self.extra_env.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        return env

    def _start(self, start_timeout, wait_ready):
        cmd = [os.environ["LOYALTYD"], "serve", "--listen", "127.0.0.1:%d" % self.port,
               "--threads", str(self.threads)] + self.args
        self.cmd = cmd
        with open(self.logpath, "ab") as log:
            log.write(("--- start: %s\n" % " ".join(shlex.quote(c) for c in cmd)).encode())
            log.flush()
            self.proc = subprocess.Popen(
                cmd, env=self.env(), stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.PIPE if self.stderr_pipe else subprocess.STDOUT, cwd=self.tmp)
        _live_procs.append(self.proc)
        deadline = time.monotonic() + start_timeout
        paths = ["/healthz"] + (["/readyz"] if wait_ready else [])
        for path in paths:
            while True:
                rc = self.proc.poll()
                if rc is not None:
                    self._reap()
                    log = self.log()
                    if re.search(r"address already in use|EADDRINUSE|\bbind\b", log, re.I):
                        raise _PortTaken(self.log_tail())
                    raise AssertionError("loyaltyd exited with %d while starting:\n%s"
                                         % (rc, self.log_tail()))
                try:
                    r = self.request("GET", path, token=None, timeout=2.0)
                    if r.status == 200:
                        break
                except (OSError, http.client.HTTPException):
                    self._drop_conn()
                if time.monotonic() > deadline:
                    self.kill()
                    raise AssertionError("loyaltyd not ready (%s != 200) within %.0f s:\n%s"
                                         % (path, start_timeout, self.log_tail()))
                time.sleep(0.05)  # polling a readiness condition

    def _reap(self):
        if self.proc in _live_procs and self.proc.poll() is not None:
            _live_procs.remove(self.proc)

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._reap()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if sig == signal.SIGTERM:
            self._termed = True
        self.proc.send_signal(sig)

    def stop(self, timeout=20.0):
        """SIGTERM; asserts a clean exit (code 0, no sanitizer report). Idempotent."""
        if self.returncode is None and self.proc is not None:
            if self.proc.poll() is None:
                if not self._termed:
                    self.signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self.kill()
                    self.returncode = "timeout"
                    self._close_conns()
                    raise AssertionError("loyaltyd did not exit within %.0f s of SIGTERM:\n%s"
                                         % (timeout, self.log_tail()))
            self.returncode = self.proc.returncode
            self._reap()
            self._close_conns()
        self.assert_clean_exit()
        return self.returncode

    def assert_clean_exit(self):
        log = self.log()
        bad = [m for m in SANITIZER_MARKERS if m in log]
        if self.returncode != 0 or bad:
            raise AssertionError("loyaltyd did not exit cleanly (code %s%s):\n%s" % (
                self.returncode, ", log mentions " + ", ".join(bad) if bad else "",
                self.log_tail(80)))

    def cleanup(self):
        """Removes the temp dir (after stop())."""
        if not _KEEP and not self.alive():
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- log

    def log(self):
        try:
            with open(self.logpath, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n=60):
        lines = self.log().splitlines()
        return "--- %s (last %d lines)\n%s" % (self.logpath, min(n, len(lines)),
                                                "\n".join(lines[-n:]))

    def log_json(self):
        """The log lines that are JSON objects."""
        out = []
        for line in self.log().splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    # -- HTTP

    @property
    def base(self):
        return "http://127.0.0.1:%d" % self.port

    def _drop_conn(self):
        c = getattr(self._local, "conn", None)
        if c is not None:
            c.close()
        self._local.conn = None

    def _close_conns(self):
        with self._conns_lock:
            for c in self._conns:
                try:
                    c.close()
                except Exception:
                    pass
            self._conns = []

    def _conn(self, timeout):
        c = getattr(self._local, "conn", None)
        fresh = c is None
        if fresh:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
            self._local.conn = c
            with self._conns_lock:
                self._conns.append(c)
        else:
            c.timeout = timeout
            if c.sock is not None:
                c.sock.settimeout(timeout)
        return c, fresh

    def request(self, method, path, body=None, token=ADMIN, headers=None, raw=None,
                chunked=False, timeout=None):
        """Sends one request; returns a Response.

        body:    a JSON value, encoded UTF-8 with ensure_ascii=False (None: no body)
        raw:     bytes sent as they are (instead of body)
        token:   ADMIN (default) = the admin key, None = no Authorization header,
                 else the bearer token
        headers: extra headers; a value of None removes a default header
        chunked: send the body with Transfer-Encoding: chunked
        Content-Type defaults to application/json when a body is sent."""
        if token is ADMIN:
            token = self.admin_key
        hdrs = {}
        if token is not None:
            hdrs["Authorization"] = "Bearer " + token
        payload = raw
        if payload is None and body is not None:
            payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        if payload is not None:
            hdrs["Content-Type"] = "application/json"
        for k, v in (headers or {}).items():
            for existing in [h for h in hdrs if h.lower() == k.lower()]:
                del hdrs[existing]
            if v is not None:
                hdrs[k] = v
        timeout = timeout or self.timeout
        for attempt in (0, 1):
            conn, fresh = self._conn(timeout)
            send = payload
            if chunked and payload is not None:
                send = (payload[i:i + 256] for i in range(0, len(payload), 256))
            t0 = time.monotonic()
            try:
                conn.request(method, path, body=send, headers=hdrs)
                resp = conn.getresponse()
                data = resp.read()
            except _RETRYABLE:
                self._drop_conn()
                if fresh or attempt == 1:
                    raise
                continue  # the server closed an idle keep-alive connection
            except BaseException:
                self._drop_conn()
                raise
            elapsed = time.monotonic() - t0
            if resp.will_close:
                self._drop_conn()
            return Response(resp.status, resp.reason, resp.msg, data, elapsed)
        raise AssertionError("unreachable")


class _PortTaken(Exception):
    pass


# --------------------------------------------------------------------------- helpers

PROBLEM_KEYS = ("type", "title", "status", "detail", "code")


def assert_problem(tc, resp, status, code):
    """Asserts an RFC 9457 problem answer with this status and code; returns its JSON."""
    tc.assertEqual(resp.status, status, "expected %d %s, got %r" % (status, code, resp))
    ctype = resp.headers.get("Content-Type", "")
    tc.assertTrue(ctype.split(";")[0].strip().lower() == "application/problem+json",
                  "Content-Type %r for %r" % (ctype, resp))
    try:
        doc = resp.json()
    except ValueError:
        tc.fail("problem body is not JSON: %r" % resp)
    tc.assertIsInstance(doc, dict, resp)
    for k in PROBLEM_KEYS:
        tc.assertIn(k, doc, "problem lacks %r: %r" % (k, resp))
    tc.assertEqual(doc["status"], status, resp)
    tc.assertEqual(doc["code"], code, resp)
    if "errors" in doc:
        tc.assertIsInstance(doc["errors"], list, resp)
    tc.assertTrue(resp.headers.get("X-Request-Id"), "no X-Request-Id on %r" % resp)
    return doc


def error_fields(doc):
    return [e.get("field") for e in doc.get("errors") or [] if isinstance(e, dict)]


def make_key(daemon, role, store_id=None, name=None, token=ADMIN):
    """Creates an API key with the admin key; returns the 201 JSON ({id, key, ...})."""
    body = {"name": name or "%s-%s" % (role, secrets.token_hex(3)), "role": role}
    if store_id is not None:
        body["store_id"] = store_id
    r = daemon.request("POST", "/v1/keys", body, token=token)
    if r.status != 201:
        raise AssertionError("POST /v1/keys %r -> %r" % (body, r))
    doc = r.json()
    if not isinstance(doc.get("key"), str) or not doc["key"]:
        raise AssertionError("POST /v1/keys answered no key: %r" % r)
    return doc


_counter = [0]
_counter_lock = threading.Lock()


def unique_int():
    with _counter_lock:
        _counter[0] += 1
        return _counter[0]


def unique_phone():
    """+86 and 11 digits, unique within this process (and very likely across)."""
    return "+861%03d%07d" % (os.getpid() % 1000, (unique_int() * 7919 + secrets.randbelow(100))
                              % 10_000_000)


def unique_email():
    return "m%d.%d.%s@example.com" % (os.getpid(), unique_int(), secrets.token_hex(3))


def unique_card():
    return "9%05d%06d%04d" % (os.getpid() % 100000, unique_int(), secrets.randbelow(10000))


def enroll(daemon, token=ADMIN, **fields):
    """POST /v1/members; asserts 201 and returns the member. A name is made up
    when none is given."""
    fields.setdefault("name", "Member %d" % unique_int())
    r = daemon.request("POST", "/v1/members", fields, token=token)
    if r.status != 201:
        raise AssertionError("enroll %r -> %r" % (fields, r))
    return r.json()


def rule_tiers(daemon):
    """The tier codes of the active rules, lowest first (at least two)."""
    r = daemon.request("GET", "/v1/rules")
    assert r.status == 200, r
    tiers = [t["code"] for t in r.json()["rules"]["tiers"]]
    assert len(tiers) >= 2, tiers
    return tiers


def member_token(daemon, member_id, ttl_seconds=None, token=ADMIN):
    body = {} if ttl_seconds is None else {"ttl_seconds": ttl_seconds}
    r = daemon.request("POST", "/v1/members/%s/tokens" % q(member_id), body, token=token)
    if r.status != 201:
        raise AssertionError("POST tokens -> %r" % r)
    return r.json()


def absent_id_like(real_id):
    """An id of the same shape as `real_id` that nothing has (ids are opaque,
    but a look-alike exercises the not-found path rather than a parse error)."""
    head, sep, tail = real_id.rpartition("_")
    if tail.isdigit():
        return head + sep + str(int(tail) + 10 ** 12)

    def flip(c):
        if c.isdigit():
            return "9"
        if c in "abcdef":
            return "f"
        if c in "ABCDEF":
            return "F"
        if c.islower():
            return "z"
        if c.isupper():
            return "Z"
        return c
    return head + sep + "".join(flip(c) for c in tail)


def q(s):
    """Percent-encodes a path segment or query value."""
    return urllib.parse.quote(str(s), safe="")


def poll_until(fn, deadline_s, interval=0.02):
    """Calls fn() until it returns a truthy value or deadline_s pass.
    Returns (value, seconds_taken); value is the last result (falsy on timeout)."""
    t0 = time.monotonic()
    while True:
        v = fn()
        took = time.monotonic() - t0
        if v or took > deadline_s:
            return v, took
        time.sleep(interval)


def parse_time(s):
    """RFC 3339 timestamp with offset -> aware datetime (raises on anything else)."""
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", s):
        raise ValueError("not RFC 3339 with offset: %r" % s)
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


def run_cli(args, dburl=None, extra_env=None, timeout=60):
    """Runs `$LOYALTYD args...`; returns the CompletedProcess (bytes)."""
    env = dict(os.environ)
    env.update({"LOYALTY_LOG_LEVEL": "info",
                "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=23",
                "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"})
    if dburl is not None:
        env["DATABASE_URL"] = dburl
    for k, v in (extra_env or {}).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return subprocess.run([os.environ["LOYALTYD"]] + list(args), env=env,
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout)


def assert_no_sanitizer(tc, text, what=""):
    for m in SANITIZER_MARKERS:
        tc.assertNotIn(m, text, "%s: sanitizer report:\n%s" % (what, text[-4000:]))


class LockSession:
    """A transaction in its own psql session that takes a lock with
    `lock_sql` (a statement printing 'locked') and holds it until
    release()."""

    def __init__(self, cluster, db, lock_sql):
        env = dict(os.environ)
        for v in ("PGSERVICE", "PGOPTIONS", "PGDATABASE"):
            env.pop(v, None)
        self.proc = subprocess.Popen(
            [pg_bin("psql"), "-XAtq", "-v", "ON_ERROR_STOP=1", "-d", db],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        self.proc.stdin.write(("BEGIN;\n%s\n" % lock_sql).encode())
        self.proc.stdin.flush()
        line = self.proc.stdout.readline().decode().strip()
        if line != "locked":
            self.proc.kill()
            raise AssertionError("could not lock (%s): %r" % (lock_sql, line))

    def release(self):
        if self.proc.poll() is None:
            out, _ = self.proc.communicate(b"COMMIT;\n", timeout=30)
            if self.proc.returncode != 0:
                raise AssertionError("lock session failed: %r" % out)


def id_num(public_id):
    """The number behind a public id: 42 for "mem_42"."""
    return int(public_id.rpartition("_")[2])


class RowLock(LockSession):
    """FOR UPDATE on one member's row until release(): a write for that
    member blocks in the database (a purchase after it has taken its rules
    snapshot)."""

    def __init__(self, cluster, db, member):
        super().__init__(cluster, db, "SELECT 'locked' FROM members WHERE id = %d FOR UPDATE;"
                         % id_num(member["id"]))


# --------------------------------------------------------------------------- base class

class DaemonTestCase(unittest.TestCase):
    """A database on the shared cluster and one daemon per test class.

    Subclasses may set daemon_args / daemon_env / daemon_threads."""

    daemon_args = ()
    daemon_env = None
    daemon_threads = 2

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.cluster = Cluster()
        cls.db = cls.cluster.create_database()
        try:
            cls.daemon = Daemon(cls.db, extra_env=cls.daemon_env, args=cls.daemon_args,
                                threads=cls.daemon_threads)
        except BaseException:
            cls.cluster.drop_database(cls.db)
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.daemon.stop()  # raises when the daemon did not exit cleanly
            cls.daemon.cleanup()
        finally:
            cls.cluster.drop_database(cls.db)
            super().tearDownClass()

    # conveniences
    def req(self, *a, **kw):
        return self.daemon.request(*a, **kw)

    def fingerprint(self):
        return db_fingerprint(self.cluster, self.db)

    def psql(self, sql):
        return self.cluster.psql(self.db, sql)

    def balance(self, member):
        """GET /v1/members/{id}/balance; asserts 200; the document."""
        r = self.req("GET", "/v1/members/%s/balance" % q(member["id"]))
        self.assertEqual(r.status, 200, r)
        return r.json()

    def ledger(self, member, limit=500):
        """The member's ledger entries, newest first (one page of `limit`)."""
        r = self.req("GET", "/v1/members/%s/ledger?limit=%d" % (q(member["id"]), limit))
        self.assertEqual(r.status, 200, r)
        return r.json()["items"]

    def assert_ledger_invariant(self):
        """Every balance is the sum of its ledger (`loyaltyd check` exits 0)."""
        p = run_cli(["check"], dburl=self.db)
        self.assertEqual(p.returncode, 0, "loyaltyd check: %r" % (p.stderr[-2000:],))


class TwoDaemonsTestCase(DaemonTestCase):
    """DaemonTestCase with a second daemon on the same database: cls.a (the
    first, also cls.daemon) and cls.b."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.a = cls.daemon
        try:
            cls.b = Daemon(cls.db, admin_key=cls.a.admin_key)
        except BaseException:
            super().tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.b.stop()
            cls.b.cleanup()
        finally:
            super().tearDownClass()


MEMBER_KEYS = ("id", "card_number", "name", "phone", "email", "birthday", "status", "tier",
               "points_balance", "referral_code", "referred_by", "enrolled_at", "updated_at")


def _selftest():
    """python3 harness.py: checks Cluster and OwnCluster against real PostgreSQL."""
    if not os.environ.get("LOYALTY_TEST_PGHOST"):
        print("set LOYALTY_TEST_PGHOST/PGPORT/PGUSER to test Cluster", file=sys.stderr)
    else:
        c = Cluster()
        db = c.create_database()
        print("Cluster.create_database ->", db)
        assert c.psql(db, "SELECT 1;").strip() == "1"
        c.psql(db, "CREATE TABLE t (a int, b text); INSERT INTO t VALUES (1, '王小明');")
        f1 = db_fingerprint(c, db)
        assert "王小明" in db_dump(c, db), db_dump(c, db)
        c.psql(db, "UPDATE t SET b = 'x';")
        assert db_fingerprint(c, db) != f1
        c.drop_database(db)
        print("Cluster ok")
    oc = OwnCluster()
    try:
        db = oc.create_database()
        print("OwnCluster.create_database ->", db)
        assert oc.psql(db, "SHOW server_encoding;").strip() == "UTF8"
        oc.stop()
        try:
            oc.psql(db, "SELECT 1;")
            raise AssertionError("psql worked on a stopped cluster")
        except RuntimeError:
            pass
        oc.start()
        assert oc.psql(db, "SELECT 2;").strip() == "2"
        print("OwnCluster ok")
    finally:
        oc.destroy()
    assert not os.path.exists(oc.dir)


if __name__ == "__main__":
    _selftest()
