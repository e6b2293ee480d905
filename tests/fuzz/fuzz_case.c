/* fuzz_case.c -- a case server's reply (status and body) and the request
 * body template, on any bytes. */
#include "case.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    long status = (long)(data[0] | data[1] << 8) % 700;
    char remote[128];
    enum case_verdict v = case_judge(status, (const char *)data + 2, size - 2, remote, sizeof remote);
    if (v == CASE_DELIVERED && !(status >= 200 && status < 300))
        abort();
    if (strlen(remote) >= sizeof remote)
        abort();
    /* the rest as a template for the http backend's body */
    char *tplsrc = malloc(size - 1);
    memcpy(tplsrc, data + 2, size - 2);
    tplsrc[size - 2] = '\0';
    cJSON *tpl = cJSON_Parse(tplsrc);
    struct case_rec c;
    memset(&c, 0, sizeof c);
    strcpy(c.id, "PB-000001");
    strcpy(c.order_ref, "55512345");
    strcpy(c.new_email, "a@example.com");
    strcpy(c.lang, "en");
    c.summary = tplsrc;
    char *body = case_http_body(&c, cJSON_IsObject(tpl) ? tpl : NULL, NULL);
    cJSON *back = body ? cJSON_Parse(body) : NULL;
    if (body && !back)
        abort(); /* what we send is always JSON */
    cJSON_Delete(back);
    free(body);
    cJSON_Delete(tpl);
    free(tplsrc);
    (void)case_backoff_ms(data[0] % 40, (long)(int8_t)data[1], (uint32_t)size);
    return 0;
}
