/* www_embed.h -- the chat page's files, compiled into the program by
 * tests/embed.sh from bot/www/. Read-only, static lifetime. */
#ifndef PROVBOT_WWW_EMBED_H
#define PROVBOT_WWW_EMBED_H
#include <stddef.h>

struct www_file {
    const char *path;           /* "/index.html" */
    const char *mime;           /* Content-Type */
    const unsigned char *data;  /* the bytes (NUL-terminated beyond len) */
    size_t len;                 /* length in bytes */
};

extern const struct www_file www_files[];
extern const size_t www_nfiles;

#endif
