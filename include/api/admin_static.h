/*
 * admin_static.h - where the admin dashboard's files are (GET /admin/...).
 * The handlers themselves are in handlers.h.
 */
#ifndef LY_API_ADMIN_STATIC_H
#define LY_API_ADMIN_STATIC_H

/*
 * Sets the directory the dashboard's files are read from; `dir` is borrowed
 * and must outlive the server (it comes from struct cfg).  Logs a warning
 * when index.html is not there, since /admin/ will then answer 404.  Call
 * once at start, before the server starts.
 */
void admin_static_init(const char *dir);

#endif
