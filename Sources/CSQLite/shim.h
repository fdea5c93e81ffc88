#ifndef LIFEBOAT_CSQLITE_SHIM_H
#define LIFEBOAT_CSQLITE_SHIM_H
#include <sqlite3.h>

/* SQLITE_TRANSIENT is a cast macro Swift cannot import. */
static inline int lb_sqlite3_bind_text_transient(sqlite3_stmt *stmt, int idx, const char *text, int len) {
    return sqlite3_bind_text(stmt, idx, text, len, SQLITE_TRANSIENT);
}
static inline int lb_sqlite3_bind_blob_transient(sqlite3_stmt *stmt, int idx, const void *data, int len) {
    return sqlite3_bind_blob(stmt, idx, data, len, SQLITE_TRANSIENT);
}
/* SQLITE_READONLY_ROLLBACK is built from another macro with a shift: Swift does not import it. */
static const int lb_SQLITE_READONLY_ROLLBACK = SQLITE_READONLY_ROLLBACK;
#endif
