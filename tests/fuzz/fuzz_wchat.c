/* fuzz_wchat.c -- the web chat frame parser on any bytes. */
#include "wchat.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct wchat_frame f;
    enum wchat_kind k = wchat_parse((const char *)data, size, size > 0 && data[0] == 0xff, &f);
    if (k == WCHAT_MESSAGE && !f.text)
        abort();
    if (k == WCHAT_BAD && !f.error)
        abort();
    if (k == WCHAT_HELLO && f.session[0] && !wchat_session_valid(f.session))
        abort();
    char *e = wchat_error("bad_json", f.error ? f.error : "x", f.id);
    char *w = wchat_welcome(f.session, NULL);
    if (!e || !w)
        abort();
    free(e);
    free(w);
    wchat_frame_clear(&f);
    return 0;
}
