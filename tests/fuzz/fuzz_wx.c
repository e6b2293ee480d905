/* fuzz_wx.c -- the Webex parsers on any bytes: Mercury envelopes, REST
 * messages, people, devices, mention stripping, reply building, Retry-After,
 * Hydra ids. */
#include "wx.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct wx_envelope env;
    enum wx_env_kind k = wx_envelope_parse(s, size, &env);
    if (k == WX_ENV_ACTIVITY && (!env.act.verb[0] || !env.act.id[0]))
        abort(); /* an activity always has what it is acted on by */
    if (k == WX_ENV_ACTIVITY)
        (void)wx_activity_mentions(&env.act, "0b4b6ee0-9a2b-4d4d-9c4e-111111111111");

    struct wx_message m;
    if (wx_message_parse(s, size, &m) == 0 && !m.text)
        abort();
    if (m.text) {
        char *t = wx_strip_mention(m.text, size & 1 ? "provbot" : "");
        free(t);
    }
    wx_message_clear(&m);

    struct wx_person p;
    (void)wx_person_parse(s, size, &p);
    struct wx_device d;
    (void)wx_device_parse(s, size, &d);
    (void)wx_devices_find(s, size, "provbot", &d);

    char *md = wx_reply_markdown(s, size);
    if (md) {
        char *body = wx_reply_body("room", size & 2 ? "parent" : "", md);
        if (!body)
            abort();
        free(body);
        free(md);
    }
    char *z = malloc(size + 1);
    memcpy(z, data, size);
    z[size] = '\0';
    (void)wx_retry_after_ms(z);
    char out[256];
    if (wx_hydra_uuid(z, "PEOPLE", out, sizeof out) == 0 && strlen(out) >= sizeof out)
        abort();
    if (wx_is_uuid(z) && wx_hydra_id("us", "MESSAGE", z, out, sizeof out) != 0)
        abort();
    free(z);
    return 0;
}
