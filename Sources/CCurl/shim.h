#ifndef LIFEBOAT_CCURL_SHIM_H
#define LIFEBOAT_CCURL_SHIM_H
#include <curl/curl.h>

/* curl_easy_setopt / curl_easy_getinfo are variadic: Swift needs one typed wrapper per argument kind. */
static inline CURLcode lb_curl_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode lb_curl_setopt_str(CURL *h, CURLoption o, const char *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode lb_curl_setopt_ptr(CURL *h, CURLoption o, void *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode lb_curl_setopt_off(CURL *h, CURLoption o, curl_off_t v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode lb_curl_setopt_slist(CURL *h, CURLoption o, struct curl_slist *v) { return curl_easy_setopt(h, o, v); }
typedef size_t (*lb_curl_data_cb)(char *, size_t, size_t, void *);
static inline CURLcode lb_curl_setopt_datacb(CURL *h, CURLoption o, lb_curl_data_cb v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode lb_curl_getinfo_long(CURL *h, CURLINFO i, long *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode lb_curl_getinfo_off(CURL *h, CURLINFO i, curl_off_t *v) { return curl_easy_getinfo(h, i, v); }
typedef int (*lb_curl_seek_cb)(void *, curl_off_t, int);
static inline CURLcode lb_curl_setopt_seekcb(CURL *h, CURLoption o, lb_curl_seek_cb v) { return curl_easy_setopt(h, o, v); }
/* CURL_GLOBAL_DEFAULT is a composite macro Swift does not import. */
static inline CURLcode lb_curl_global_init_default(void) { return curl_global_init(CURL_GLOBAL_DEFAULT); }
#endif
