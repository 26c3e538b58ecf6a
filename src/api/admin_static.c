/*
 * admin_static.c - GET /admin/ and GET /admin/{file}: the admin dashboard's
 * static files, read from the web directory (--web-dir, LOYALTY_WEB_DIR) at
 * each request, so a new build is served without a restart.
 *
 * Only the files named in `files` are served: the name in the URL is looked
 * up in that table and never joined to the directory as given, so no request
 * can reach another file.  The routes are public: the page holds no secret
 * and asks for the admin key itself, sending it as the bearer token of its
 * API calls.  Every answer carries a strict Content-Security-Policy (scripts
 * and styles from this origin only, no inline code, no framing).
 *
 * Must not serve anything outside the table nor keep file contents in memory.
 */
#include "api/admin_static.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/handlers.h"
#include "core/log.h"
#include "core/xmalloc.h"

/* The dashboard is a few small files; anything bigger is not one of them. */
#define MAX_FILE_BYTES (4 * 1024 * 1024)

static const struct {
    const char *name;
    const char *content_type;
} files[] = {
    {"index.html", "text/html; charset=utf-8"},
    {"app.js", "text/javascript; charset=utf-8"},
    {"style.css", "text/css; charset=utf-8"},
    {"chart.umd.min.js", "text/javascript; charset=utf-8"},
};

/*
 * connect-src 'self': the page talks only to this daemon.  img-src data:
 * lets index.html name an empty icon, so the browser does not ask for
 * /favicon.ico.  Chart.js styles its canvas through the CSSOM, which
 * style-src 'self' allows, so no 'unsafe-inline' is needed.
 */
static const char *const security_headers[] = {
    "Content-Security-Policy",
    /* One value in two literals: the parentheses say so (to clang-tidy too). */
    ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
     "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    "X-Content-Type-Options",
    "nosniff",
    "Referrer-Policy",
    "no-referrer",
    NULL,
};

static const char *web_dir = "web";

void admin_static_init(const char *dir)
{
    char path[4096];

    web_dir = dir;
    snprintf(path, sizeof(path), "%s/index.html", dir);
    if (access(path, R_OK) != 0)
        log_msg(LOG_WARN, "dashboard files not found: /admin/ will answer 404 (set --web-dir)",
                dir);
}

/* Reads a whole regular file into a new malloc'd buffer (owned by the caller). */
static int read_file(const char *path, char **out, size_t *len, struct err *e)
{
    struct stat st;
    char *data;
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return err_set(e, ERR_NOT_FOUND, "the dashboard's files are not installed");
        return err_internal(e, ERR_INTERNAL, "open %s: %s", path, strerror(errno));
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_FILE_BYTES) {
        close(fd);
        return err_internal(e, ERR_INTERNAL, "%s is not a regular file of at most %d bytes", path,
                            MAX_FILE_BYTES);
    }
    /* One spare byte: an empty file still gets a buffer MHD can free. */
    data = xmalloc((size_t)st.st_size + 1);
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, data + got, (size_t)st.st_size - got);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            free(data);
            close(fd);
            return err_internal(e, ERR_INTERNAL, "read %s: %s", path,
                                n < 0 ? strerror(errno) : "file shrank");
        }
        got += (size_t)n;
    }
    close(fd);
    *out = data;
    *len = got;
    return 0;
}

static int serve_file(const char *name, struct resp *rs, struct err *e)
{
    char path[4096];
    char *data = NULL;
    size_t len = 0;

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        if (0 != strcmp(name, files[i].name))
            continue;
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", web_dir, files[i].name) >= sizeof(path))
            return err_internal(e, ERR_INTERNAL, "web directory path too long");
        if (read_file(path, &data, &len, e) < 0)
            return -1;
        resp_raw(rs, 200, files[i].content_type, data, len);
        /* Revalidate every time: the files change with each build and are
         * small, and a stale app.js against a newer API is worse. */
        rs->cache_control = "no-cache";
        rs->headers = security_headers;
        return 0;
    }
    return err_set(e, ERR_NOT_FOUND, "no such dashboard file");
}

/* GET /admin/ */
int api_admin_index(struct req *rq, struct resp *rs, struct err *e)
{
    (void)rq;
    return serve_file("index.html", rs, e);
}

/* GET /admin/{file} */
int api_admin_file(struct req *rq, struct resp *rs, struct err *e)
{
    return serve_file(req_param(rq, 0), rs, e);
}
