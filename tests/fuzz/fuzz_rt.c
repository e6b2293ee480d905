/* fuzz_rt.c -- Request Tracker's REST2 replies on any bytes: search, create,
 * ticket status, queue check, verdicts; and URLs from hostile ids. */
#include "rt.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    char out[64], why[256];
    if (rt_parse_search(s, size, out, sizeof out) == 1 && (!out[0] || strlen(out) >= sizeof out))
        abort();
    if (rt_parse_created(s, size, out, sizeof out) == 0 && !out[0])
        abort();
    (void)rt_parse_status(s, size, out, sizeof out);
    (void)rt_check_queue(s, size, "Provisioning", why, sizeof why);
    long status = size ? (long)(data[0] * 3) % 600 : 0;
    for (int step = RT_STEP_QUEUE; step <= RT_STEP_STATUS; step++) {
        enum case_verdict v = rt_judge((enum rt_step)step, status, s, size, "Provisioning", why, sizeof why);
        if (v == CASE_DELIVERED && !(status >= 200 && status < 300))
            abort();
        if (strlen(why) >= sizeof why)
            abort();
    }
    /* the input as an id: a URL is made only from a safe one */
    char *z = malloc(size + 1);
    memcpy(z, data, size);
    z[size] = '\0';
    char *u = rt_search_url("http://rt.example/rt", z);
    if (u && (strchr(u, ' ') || strchr(u, '\n') || strchr(u, '\'')))
        abort();
    free(u);
    u = rt_ticket_url("http://rt.example/rt/", z);
    if (u && strpbrk(u + strlen("http://rt.example/rt/REST/2.0/ticket/"), "/?#&"))
        abort();
    free(u);
    free(z);
    return 0;
}
