"""The command line: --help, keys create, migrate, check, and a database newer than the binary."""

import re

import harness
from harness import (Daemon, DaemonTestCase, assert_no_sanitizer, assert_problem, db_dump,
                     db_fingerprint, enroll, run_cli)

ENV_VARS = ("DATABASE_URL", "LOYALTY_LISTEN", "LOYALTY_THREADS", "LOYALTY_POOL_SIZE",
            "LOYALTY_BODY_LIMIT", "LOYALTY_LOG_LEVEL", "LOYALTY_ADMIN_KEY", "LOYALTY_SQL_DIR")
FLAGS = ("--database-url", "--listen", "--threads", "--pool-size", "--body-limit",
         "--log-level", "--admin-key", "--no-migrate", "--help")
FUTURE = "99999999999999_from_the_future"


class CliTest(DaemonTestCase):

    def cli(self, *args, dburl=None, **kw):
        p = run_cli(args, dburl=dburl, **kw)
        assert_no_sanitizer(self, p.stderr.decode("utf-8", "replace"), " ".join(args))
        return p

    def fresh_db(self):
        db = self.cluster.create_database()
        self.addCleanup(self.cluster.drop_database, db)
        return db

    def test_help(self):
        p = self.cli("--help")
        self.assertEqual(p.returncode, 0, p)
        out = p.stdout.decode()
        for name in ENV_VARS + FLAGS:
            self.assertIn(name, out, "--help does not mention %s" % name)
        for cmd in ("serve", "migrate", "check", "keys create"):
            self.assertIn(cmd, out)

    def test_unknown_command_and_option(self):
        for args in (("frobnicate",), ("serve", "--no-such-flag"), ("--threads", "zero"),
                     ("keys", "create", "--role", "root", "--name", "x"),
                     ("keys", "create", "--name", "x"), ("keys", "create", "--role", "pos")):
            with self.subTest(args=args):
                p = self.cli(*args, dburl=self.db)
                self.assertNotEqual(p.returncode, 0, p)
                self.assertEqual(p.stdout.strip(), b"", "printed something on stdout: %r" % p)

    def key_from_cli(self, *args):
        p = self.cli("keys", "create", *args, dburl=self.db)
        self.assertEqual(p.returncode, 0, p)
        lines = p.stdout.decode().splitlines()
        self.assertEqual(len(lines), 1, "stdout must be the key alone: %r" % p.stdout)
        key = lines[0].strip()
        self.assertTrue(key)
        self.assertIsNone(re.search(r"\s", key), key)
        self.assertNotIn(key, db_dump(self.cluster, self.db), "plaintext key in the database")
        return key

    def test_keys_create_pos_bound(self):
        key = self.key_from_cli("--role", "pos", "--name", "t", "--store", "S1")
        d = self.daemon
        r = d.request("GET", "/v1/members?card_number=123456", token=key)
        self.assertEqual(r.status, 200, r)
        assert_problem(self, d.request("GET", "/v1/keys", token=key), 403, "forbidden")
        r = d.request("POST", "/v1/members", {"name": "cli S2", "store_id": "S2"}, token=key)
        assert_problem(self, r, 403, "forbidden")
        r = d.request("POST", "/v1/members", {"name": "cli S1", "store_id": "S1"}, token=key)
        self.assertEqual(r.status, 201, r)
        listing = d.request("GET", "/v1/keys").json()["items"]
        mine = [k for k in listing if k.get("name") == "t"]
        self.assertEqual(len(mine), 1, listing)
        self.assertEqual((mine[0].get("role"), mine[0].get("store_id")), ("pos", "S1"))

    def test_keys_create_admin_and_app(self):
        admin = self.key_from_cli("--role", "admin", "--name", "cli-admin")
        app = self.key_from_cli("--role", "app", "--name", "cli-app")
        self.assertNotEqual(admin, app)
        self.assertEqual(self.daemon.request("GET", "/v1/keys", token=admin).status, 200)
        self.assertEqual(self.daemon.request("GET", "/v1/keys", token=app).status, 403)

    def test_migrate_twice(self):
        db = self.fresh_db()
        p = self.cli("migrate", dburl=db)
        self.assertEqual(p.returncode, 0, p)
        tables = self.cluster.psql(db, "SELECT tablename FROM pg_tables "
                                       "WHERE schemaname = 'public';").split()
        for t in ("members", "schema_migrations", "ledger_entries"):
            self.assertIn(t, tables)
        fp = db_fingerprint(self.cluster, db)
        p = self.cli("migrate", dburl=db)
        self.assertEqual(p.returncode, 0, p)
        self.assertEqual(db_fingerprint(self.cluster, db), fp, "second migrate changed things")
        # a daemon with --no-migrate serves a migrated database
        d = Daemon(db, args=("--no-migrate",))
        try:
            self.assertEqual(enroll(d, name="no-migrate")["name"], "no-migrate")
        finally:
            d.stop()
            d.cleanup()

    def test_check(self):
        m = enroll(self.daemon, name="Check Me")
        enroll(self.daemon, name="Check Me Too")
        p = self.cli("check", dburl=self.db)
        self.assertEqual(p.returncode, 0, p)
        card = harness.quote_literal(m["card_number"])  # ids are opaque: find it by card
        self.assertEqual(self.psql("UPDATE members SET points_balance = points_balance + 1 "
                                   "WHERE card_number = %s RETURNING 1;" % card).strip(), "1")
        try:
            p = self.cli("check", dburl=self.db)
            self.assertNotEqual(p.returncode, 0, "check missed a broken balance: %r" % p)
        finally:
            self.psql("UPDATE members SET points_balance = points_balance - 1 "
                      "WHERE card_number = %s;" % card)
        p = self.cli("check", dburl=self.db)
        self.assertEqual(p.returncode, 0, p)

    def test_unreachable_database(self):
        url = harness.conninfo("/nonexistent-socket-dir", 1, "nobody", "nothing")
        for args in (("migrate",), ("check",), ("keys", "create", "--role", "app", "--name", "x")):
            with self.subTest(args=args):
                p = self.cli(*args, dburl=url, timeout=60)
                self.assertNotEqual(p.returncode, 0, p)
                self.assertEqual(p.stdout.strip(), b"")

    def test_database_newer_than_binary(self):
        db = self.fresh_db()
        p = self.cli("migrate", dburl=db)
        self.assertEqual(p.returncode, 0, p)
        insert_future_version(self.cluster, db)
        d = Daemon(db, wait_ready=False)
        try:
            self.assertEqual(d.request("GET", "/healthz", token=None).status, 200)
            r = d.request("GET", "/readyz", token=None)
            assert_problem(self, r, 503, "unavailable")
            self.assertRegex(r.text.lower(), r"schema|migration", r)
        finally:
            d.stop()
            d.cleanup()


def insert_future_version(cluster, db):
    """Records in schema_migrations a version higher than any migration file,
    whatever the table's column types are."""
    rows = cluster.psql(db, "SELECT column_name, data_type FROM information_schema.columns "
                            "WHERE table_schema = 'public' AND table_name = 'schema_migrations' "
                            "ORDER BY ordinal_position;")
    cols = [tuple(line.split("|")) for line in rows.splitlines() if line]
    if not cols:
        raise AssertionError("no schema_migrations table")
    names = [c for c, _ in cols]
    vcol = "version" if "version" in names else names[0]
    exprs = []
    for name, dtype in cols:
        qi = harness.quote_ident(name)
        if name == vcol and dtype in ("integer", "bigint", "smallint", "numeric"):
            exprs.append("(SELECT max(%s) FROM schema_migrations) + 1000" % qi)
        elif name == vcol or ((("name" in name) or ("file" in name)) and
                              dtype in ("text", "character varying")):
            exprs.append(harness.quote_literal(FUTURE))
        else:
            exprs.append(qi)
    cluster.psql(db, "INSERT INTO schema_migrations (%s) SELECT %s FROM schema_migrations "
                     "ORDER BY %s DESC LIMIT 1;"
                 % (", ".join(harness.quote_ident(n) for n in names), ", ".join(exprs),
                    harness.quote_ident(vcol)))


if __name__ == "__main__":
    harness.main()
