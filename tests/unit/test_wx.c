/* test_wx.c -- Webex wire formats: catalog, devices, envelopes, ids,
 * messages, mentions, reply bodies, Retry-After, close codes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wx.h"

#include <cJSON.h>

#define S(x) x, strlen(x)

static void test_u2c(void **state)
{
    (void)state;
    const char *cat =
        "{\"serviceLinks\":{\"wdm\":\"https://wdm-r.wbx2.com/wdm/api/v1\"},"
        "\"hostCatalog\":{\"conv-a.wbx2.com\":[{\"host\":\"conv-a.wbx2.com\",\"id\":\"urn:TEAM:us-east-2_a:conversation\"}],"
        "\"conv-k.wbx2.com\":[{\"host\":\"conv-k.wbx2.com\",\"id\":\"urn:TEAM:eu-central-1_k:conversation\"}],"
        "\"conversation-r.wbx2.com\":[{\"host\":\"prod-r-message.svc.webex.com\",\"id\":\"urn:TEAM:us-west-2_r:conversation\"}]},"
        "\"format\":\"hostmap\"}";
    char out[128];
    assert_int_equal(wx_u2c_wdm(S(cat), out, sizeof out), 0);
    assert_string_equal(out, "https://wdm-r.wbx2.com/wdm/api/v1");
    assert_int_equal(wx_u2c_cluster(S(cat), "conv-a.wbx2.com", out, sizeof out), 0);
    assert_string_equal(out, "us");
    assert_int_equal(wx_u2c_cluster(S(cat), "conv-k.wbx2.com", out, sizeof out), 0);
    assert_string_equal(out, "urn:TEAM:eu-central-1_k");
    /* the host of an entry under another key (js-sdk findClusterId) */
    assert_int_equal(wx_u2c_cluster(S(cat), "prod-r-message.svc.webex.com", out, sizeof out), 0);
    assert_string_equal(out, "urn:TEAM:us-west-2_r");
    assert_int_equal(wx_u2c_cluster(S(cat), "unknown.host", out, sizeof out), 1);
    assert_string_equal(out, "us");
    assert_int_equal(wx_conv_lookup_url("https://conv-r.wbx2.com/conversation/api/v1/conversations/R1",
                                        "R1", "A1", out, sizeof out), 0);
    assert_string_equal(out, "https://conv-r.wbx2.com/conversation/api/v1/messages/A1");
    assert_int_equal(wx_conv_lookup_url("https://conv-r.wbx2.com/x/conversations/R2", "R1", "A1",
                                        out, sizeof out), -1);
    assert_int_equal(wx_id_parse(S("{\"id\":\"Y2lz\"}"), out, sizeof out), 0);
    assert_string_equal(out, "Y2lz");
    assert_int_equal(wx_id_parse(S("{\"ids\":1}"), out, sizeof out), -1);
    assert_int_equal(wx_u2c_wdm(S("{\"serviceLinks\":{}}"), out, sizeof out), -1);
    assert_int_equal(wx_u2c_wdm(S("not json"), out, sizeof out), -1);
}

static void test_devices(void **state)
{
    (void)state;
    struct wx_device d;
    const char *list = "{\"devices\":[{\"name\":\"other\",\"url\":\"u1\",\"webSocketUrl\":\"w1\"},"
                       "{\"name\":\"provbot\",\"url\":\"u2\",\"webSocketUrl\":\"w2\",\"userId\":\"abc\"}]}";
    assert_int_equal(wx_devices_find(S(list), "provbot", &d), 1);
    assert_string_equal(d.url, "u2");
    assert_string_equal(d.ws_url, "w2");
    assert_string_equal(d.user_id, "abc");
    assert_int_equal(wx_devices_find(S(list), "nope", &d), 0);
    assert_int_equal(wx_devices_find(S("{\"x\":1}"), "nope", &d), -1);
    assert_int_equal(wx_device_parse(S("{\"url\":\"u\",\"webSocketUrl\":\"w\"}"), &d), 0);
    assert_int_equal(wx_device_parse(S("{\"url\":\"u\"}"), &d), -1);
    char *body = wx_device_body("provbot");
    assert_non_null(strstr(body, "\"name\":\"provbot\""));
    assert_non_null(strstr(body, "\"deviceType\":\"DESKTOP\""));
    free(body);
}

static const char *activity =
    "{\"id\":\"env-1\",\"data\":{\"eventType\":\"conversation.activity\",\"activity\":{"
    "\"id\":\"92db3be0-43bd-11e6-8ae9-dd5b3dfc565d\",\"verb\":\"post\","
    "\"actor\":{\"id\":\"p1\",\"entryUUID\":\"11111111-2222-3333-4444-555555555555\",\"type\":\"PERSON\","
    "\"emailAddress\":\"a@example.com\"},"
    "\"object\":{\"objectType\":\"comment\",\"displayName\":\"eyJhbGciOi.enc\","
    "\"mentions\":{\"items\":[{\"id\":\"AAAAAAAA-bbbb-cccc-dddd-eeeeeeeeeeee\",\"objectType\":\"person\"}]}},"
    "\"target\":{\"id\":\"room-uuid\",\"url\":\"https://conv-a.wbx2.com/conversation/api/v1/conversations/room-uuid\","
    "\"tags\":[\"ONE_ON_ONE\"]},\"parent\":{\"id\":\"root-uuid\",\"type\":\"reply\"}}},"
    "\"sequenceNumber\":7}";

static void test_envelopes(void **state)
{
    (void)state;
    struct wx_envelope e;
    assert_int_equal(wx_envelope_parse(S(activity), &e), WX_ENV_ACTIVITY);
    assert_string_equal(e.id, "env-1");
    assert_string_equal(e.act.verb, "post");
    assert_string_equal(e.act.id, "92db3be0-43bd-11e6-8ae9-dd5b3dfc565d");
    assert_string_equal(e.act.actor_id, "11111111-2222-3333-4444-555555555555");
    assert_string_equal(e.act.actor_type, "PERSON");
    assert_string_equal(e.act.actor_email, "a@example.com");
    assert_string_equal(e.act.target_id, "room-uuid");
    assert_string_equal(e.act.target_host, "conv-a.wbx2.com");
    assert_true(e.act.one_on_one);
    assert_string_equal(e.act.parent_id, "root-uuid");
    assert_true(e.act.parent_reply);
    assert_true(wx_activity_mentions(&e.act, "aaaaaaaa-BBBB-cccc-dddd-eeeeeeeeeeee"));
    assert_false(wx_activity_mentions(&e.act, "11111111-2222-3333-4444-555555555555"));

    assert_int_equal(wx_envelope_parse(S("{\"id\":\"x\",\"data\":{\"eventType\":\"mercury.buffer_state\"}}"), &e),
                     WX_ENV_READY);
    assert_int_equal(wx_envelope_parse(S("{\"id\":\"x\",\"type\":\"pong\"}"), &e), WX_ENV_PONG);
    assert_int_equal(wx_envelope_parse(S("{\"type\":\"shutdown\"}"), &e), WX_ENV_SHUTDOWN);
    assert_int_equal(wx_envelope_parse(S("{\"id\":\"k\",\"data\":{\"eventType\":\"encryption.kms_message\"}}"), &e),
                     WX_ENV_OTHER);
    /* malformed: not JSON, not an object, an activity without actor */
    assert_int_equal(wx_envelope_parse(S("{\"id\":"), &e), WX_ENV_BAD);
    assert_int_equal(wx_envelope_parse(S("[1,2]"), &e), WX_ENV_BAD);
    assert_int_equal(wx_envelope_parse(S("{\"id\":\"bad\",\"data\":{\"eventType\":\"conversation.activity\","
                                         "\"activity\":{\"id\":\"a\",\"verb\":\"post\",\"target\":{\"id\":\"r\"}}}}"), &e),
                     WX_ENV_BAD);
    assert_string_equal(e.id, "bad");   /* still acked */
    assert_int_equal(wx_envelope_parse(S("{\"data\":{\"eventType\":\"conversation.activity\",\"activity\":7}}"), &e),
                     WX_ENV_BAD);
}

static void test_frames(void **state)
{
    (void)state;
    char *f = wx_auth_frame("id-1", "TOKEN");
    assert_string_equal(f, "{\"id\":\"id-1\",\"type\":\"authorization\",\"data\":{\"token\":\"Bearer TOKEN\"}}");
    free(f);
    f = wx_ping_frame("id-2");
    assert_string_equal(f, "{\"id\":\"id-2\",\"type\":\"ping\"}");
    free(f);
    f = wx_ack_frame("env-1");
    assert_string_equal(f, "{\"messageId\":\"env-1\",\"type\":\"ack\"}");
    free(f);
    unsigned char r[16];
    memset(r, 0xab, sizeof r);
    char u[37];
    wx_uuid_format(r, u);
    assert_int_equal(strlen(u), 36);
    assert_true(wx_is_uuid(u));
    assert_int_equal(u[14], '4');
}

static void test_ids(void **state)
{
    (void)state;
    char out[WX_ID_MAX], uuid[WX_UUID_MAX];
    assert_int_equal(wx_hydra_id("us", "MESSAGE", "92db3be0-43bd-11e6-8ae9-dd5b3dfc565d", out, sizeof out), 0);
    assert_string_equal(out, "Y2lzY29zcGFyazovL3VzL01FU1NBR0UvOTJkYjNiZTAtNDNiZC0xMWU2LThhZTktZGQ1YjNkZmM1NjVk");
    assert_int_equal(wx_hydra_uuid(out, "MESSAGE", uuid, sizeof uuid), 0);
    assert_string_equal(uuid, "92db3be0-43bd-11e6-8ae9-dd5b3dfc565d");
    assert_int_equal(wx_hydra_uuid(out, "ROOM", uuid, sizeof uuid), -1);
    /* people always "us"; unpadded out, padded in */
    assert_int_equal(wx_hydra_id("urn:TEAM:eu-central-1_k", "PEOPLE", "11111111-2222-3333-4444-555555555555",
                                 out, sizeof out), 0);
    assert_null(strchr(out, '='));
    char padded[WX_ID_MAX + 2];
    snprintf(padded, sizeof padded, "%s=", out);
    assert_int_equal(wx_hydra_uuid(padded, "PEOPLE", uuid, sizeof uuid), 0);
    assert_string_equal(uuid, "11111111-2222-3333-4444-555555555555");
    assert_int_equal(wx_hydra_id("urn:TEAM:eu-central-1_k", "ROOM", "r", out, sizeof out), 0);
    assert_int_equal(wx_hydra_uuid(out, "ROOM", uuid, sizeof uuid), 0);
    assert_string_equal(uuid, "r");
    /* raw UUIDs and garbage are no Hydra ids */
    assert_int_equal(wx_hydra_uuid("92db3be0-43bd-11e6-8ae9-dd5b3dfc565d", NULL, uuid, sizeof uuid), -1);
    assert_int_equal(wx_hydra_uuid("!!", NULL, uuid, sizeof uuid), -1);
    assert_int_equal(wx_hydra_id("us", "MESSAGE", "x", out, 10), -1);
    assert_false(wx_is_uuid("abc"));
}

static void test_messages(void **state)
{
    (void)state;
    char me[WX_ID_MAX];
    wx_hydra_id("us", "PEOPLE", "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", me, sizeof me);
    char json[2048];
    snprintf(json, sizeof json,
             "{\"id\":\"M1\",\"roomId\":\"R1\",\"roomType\":\"group\",\"parentId\":\"P1\",\"text\":\"Provbot help me\","
             "\"personEmail\":\"a@example.com\",\"personId\":\"X\",\"mentionedPeople\":[\"%s\"],"
             "\"files\":[\"https://webexapis.com/v1/contents/1\"]}", me);
    struct wx_message m;
    assert_int_equal(wx_message_parse(S(json), &m), 0);
    assert_string_equal(m.room_type, "group");
    assert_string_equal(m.parent_id, "P1");
    assert_string_equal(m.text, "Provbot help me");
    assert_int_equal(m.n_files, 1);
    assert_true(wx_message_mentions(&m, "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"));
    assert_false(wx_message_mentions(&m, "00000000-bbbb-cccc-dddd-eeeeeeeeeeee"));
    wx_message_clear(&m);
    assert_int_equal(wx_message_parse(S("{\"id\":\"M\"}"), &m), -1);
    wx_message_clear(&m);

    char *s = wx_strip_mention("Provbot Bot  help\nme ", "Provbot Bot");
    assert_string_equal(s, "help me");
    free(s);
    s = wx_strip_mention("hey Provbot, status?", "Provbot Bot");   /* shortened mention */
    assert_string_equal(s, "hey , status?");
    free(s);
    s = wx_strip_mention("  plain  ", NULL);
    assert_string_equal(s, "plain");
    free(s);

    struct wx_person p;
    snprintf(json, sizeof json, "{\"id\":\"%s\",\"emails\":[\"bot@webex.bot\"],\"displayName\":\"Provbot\"}", me);
    assert_int_equal(wx_person_parse(S(json), &p), 0);
    assert_string_equal(p.uuid, "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
    assert_string_equal(p.email, "bot@webex.bot");
    assert_int_equal(wx_person_parse(S("{}"), &p), -1);
}

static void test_replies(void **state)
{
    (void)state;
    char *md = wx_reply_markdown(S("{\"type\":\"reply\",\"text\":\"Is it **closed**?\",\"buttons\":[\"Yes\",\"No\"]}"));
    assert_string_equal(md, "Is it **closed**?\n\n> **Yes** · **No**");
    free(md);
    assert_null(wx_reply_markdown(S("{\"type\":\"error\"}")));

    char *body = wx_reply_body("R1", "P1", "hi");
    assert_string_equal(body, "{\"roomId\":\"R1\",\"parentId\":\"P1\",\"markdown\":\"hi\"}");
    free(body);
    body = wx_reply_body("R1", "", "hi");
    assert_string_equal(body, "{\"roomId\":\"R1\",\"markdown\":\"hi\"}");
    free(body);

    /* 10,000 bytes of "å" are cut under the limit on a character boundary */
    char *big = malloc(10001);
    for (int i = 0; i < 10000; i += 2) { big[i] = (char)0xc3; big[i + 1] = (char)0xa5; }
    big[10000] = 0;
    body = wx_reply_body("R", NULL, big);
    char *p = strstr(body, "\"markdown\":\"") + 12;
    size_t n = strcspn(p, "\"");
    assert_true(n <= WX_MSG_MAX);
    assert_int_equal(n % 2, 0);
    free(body);
    free(big);
}

/* Kills mutate survivor wx.c:504 (the copy of the markdown not terminated:
 * a reused dirty block shows through) with glibc's allocator; the
 * sanitizers' allocators hand out clean blocks, so under MUTATE_SAN it
 * survives (valgrind in `make test` sees the uninitialised read). */
static void test_reply_body_copy(void **state)
{
    (void)state;
    for (int i = 0; i < 64; i++) {
        char *dirty = malloc(6);
        memset(dirty, 'X', 6);
        free(dirty);
        char *body = wx_reply_body("R", NULL, "hello");
        assert_string_equal(body, "{\"roomId\":\"R\",\"markdown\":\"hello\"}");
        free(body);
    }
}

static void test_policies(void **state)
{
    (void)state;
    assert_int_equal(wx_retry_after_ms("3"), 3000);
    assert_int_equal(wx_retry_after_ms(" 0"), 1000);
    assert_int_equal(wx_retry_after_ms(NULL), 15000);
    assert_int_equal(wx_retry_after_ms("soon"), 15000);
    assert_int_equal(wx_retry_after_ms("99999"), 3600000);
    assert_int_equal(wx_close_policy(4000, "replaced"), WX_CLOSE_REPLACED);
    assert_int_equal(wx_close_policy(4000, "Replaced"), WX_CLOSE_REPLACED);
    assert_int_equal(wx_close_policy(4000, "rebalancing"), WX_CLOSE_RECONNECT);
    assert_int_equal(wx_close_policy(4000, NULL), WX_CLOSE_RECONNECT);
    assert_int_equal(wx_close_policy(4000, ""), WX_CLOSE_RECONNECT);
    assert_int_equal(wx_close_policy(4401, NULL), WX_CLOSE_AUTH);
    assert_int_equal(wx_close_policy(4403, NULL), WX_CLOSE_AUTH);
    assert_int_equal(wx_close_policy(4404, NULL), WX_CLOSE_REREGISTER);
    assert_int_equal(wx_close_policy(1011, NULL), WX_CLOSE_RECONNECT);
    assert_int_equal(wx_close_policy(1000, NULL), WX_CLOSE_RECONNECT);

    static char urls[4][WX_URL_MAX];
    const char *list = "{\"devices\":[{\"url\":\"u3\",\"modificationTime\":\"2026-03-01T00:00:00Z\"},"
        "{\"url\":\"u1\",\"modificationTime\":\"2026-01-01T00:00:00Z\"},"
        "{\"url\":\"u4\",\"modificationTime\":\"2026-04-01T00:00:00Z\"},"
        "{\"url\":\"u2\",\"modificationTime\":\"2026-02-01T00:00:00Z\"}]}";
    assert_int_equal(wx_devices_oldest_third(S(list), urls, 4), 2);   /* ceil(4/3) */
    assert_string_equal(urls[0], "u1");
    assert_string_equal(urls[1], "u2");
    assert_int_equal(wx_devices_oldest_third(S(list), urls, 1), 1);
    assert_int_equal(wx_devices_oldest_third(S("{\"devices\":[]}"), urls, 4), 0);
    assert_int_equal(wx_devices_oldest_third(S("{}"), urls, 4), -1);

    char a[40], b[40], c[40];
    wx_session_id("room", "x@example.com", true, a);
    wx_session_id("room", "y@example.com", true, b);
    assert_string_equal(a, b);             /* 1:1: by space */
    wx_session_id("room", "x@example.com", false, b);
    wx_session_id("room", "y@example.com", false, c);
    assert_string_not_equal(b, c);         /* group: by space and person */
    assert_string_not_equal(a, b);
    assert_int_equal(strlen(a), 35);
}

static void test_card(void **state)
{
    (void)state;
    struct wx_case_form f = { "55512345", "a@example.org", "it fails" };
    const struct wx_card_labels l = { "Order reference", "New provisioning contact email",
                                      "What fails", "Open the case", "Cancel" };
    char *b = wx_case_card_body("ROOM", "", "the summary", "the summary", &f, &l);
    assert_non_null(b);
    assert_non_null(strstr(b, "\"contentType\":\"application/vnd.microsoft.card.adaptive\""));
    assert_non_null(strstr(b, "\"version\":\"1.3\""));
    assert_non_null(strstr(b, "\"markdown\":\"the summary\""));
    assert_non_null(strstr(b, "\"id\":\"order_ref\",\"label\":\"Order reference\",\"value\":\"55512345\""));
    assert_null(strstr(b, "parentId"));
    free(b);
    struct wx_card_action a;
    const char *act = "{\"id\":\"X\",\"roomId\":\"R\",\"messageId\":\"M\",\"inputs\":"
        "{\"pb_action\":\"confirm\",\"order_ref\":\"1\",\"new_email\":\"e@x.org\"}}";
    assert_int_equal(wx_card_action_parse(S(act), &a), 0);
    assert_string_equal(a.room_id, "R");
    assert_string_equal(a.message_id, "M");
    assert_string_equal(a.action, "confirm");
    assert_string_equal(a.form.new_email, "e@x.org");
    assert_string_equal(a.form.description, "");
    assert_int_equal(wx_card_action_parse(S("{\"roomId\":\"R\"}"), &a), -1);
}

/* A question's quick replies as card buttons; a press read back. */
static void test_buttons_card(void **state)
{
    (void)state;
    const char *yn[] = { "Yes", "No" };
    char *b = wx_buttons_card_body("ROOM", "PARENT", "Did it work?\n\n> **Yes** · **No**",
                                   "Did it work?", yn, 2);
    assert_non_null(b);
    cJSON *o = cJSON_Parse(b);
    assert_non_null(o);
    assert_string_equal(cJSON_GetObjectItem(o, "roomId")->valuestring, "ROOM");
    assert_string_equal(cJSON_GetObjectItem(o, "parentId")->valuestring, "PARENT");
    assert_string_equal(cJSON_GetObjectItem(o, "markdown")->valuestring, "Did it work?\n\n> **Yes** · **No**");
    cJSON *att = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "attachments"), 0);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "attachments")), 1);
    assert_string_equal(cJSON_GetObjectItem(att, "contentType")->valuestring, WX_CARD_TYPE);
    cJSON *c = cJSON_GetObjectItem(att, "content");
    assert_string_equal(cJSON_GetObjectItem(c, "type")->valuestring, "AdaptiveCard");
    assert_string_equal(cJSON_GetObjectItem(c, "version")->valuestring, "1.3");
    cJSON *t = cJSON_GetArrayItem(cJSON_GetObjectItem(c, "body"), 0);
    assert_string_equal(cJSON_GetObjectItem(t, "text")->valuestring, "Did it work?");
    cJSON *acts = cJSON_GetObjectItem(c, "actions");
    assert_int_equal(cJSON_GetArraySize(acts), 2);
    for (int i = 0; i < 2; i++) {
        cJSON *a = cJSON_GetArrayItem(acts, i);
        assert_string_equal(cJSON_GetObjectItem(a, "type")->valuestring, "Action.Submit");
        assert_string_equal(cJSON_GetObjectItem(a, "title")->valuestring, yn[i]);
        assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(a, "data"), "pb_answer")->valuestring, yn[i]);
    }
    cJSON_Delete(o);
    free(b);
    /* no buttons, an empty or too long label: no card (plain markdown instead) */
    assert_null(wx_buttons_card_body("ROOM", "", "x", "x", yn, 0));
    const char *empty[] = { "Yes", "" };
    assert_null(wx_buttons_card_body("ROOM", "", "x", "x", empty, 2));
    char longl[WX_ANSWER_MAX + 1];
    memset(longl, 'a', WX_ANSWER_MAX);
    longl[WX_ANSWER_MAX] = 0;
    const char *big[] = { longl };
    assert_null(wx_buttons_card_body("ROOM", "", "x", "x", big, 1));
    longl[WX_ANSWER_MAX - 1] = 0;                /* just fits */
    b = wx_buttons_card_body("ROOM", "", "x", "x", big, 1);
    assert_non_null(b);
    free(b);
    struct wx_card_action a;
    const char *act = "{\"id\":\"X\",\"roomId\":\"R\",\"messageId\":\"M\",\"inputs\":"
        "{\"pb_answer\":\"Nej\"}}";
    assert_int_equal(wx_card_action_parse(S(act), &a), 0);
    assert_string_equal(a.answer, "Nej");
    assert_string_equal(a.action, "");
    assert_string_equal(a.message_id, "M");
    /* the object inside "items" (the js-sdk takes res.body.items || res.body) */
    assert_int_equal(wx_card_action_parse(S("{\"items\":[{\"roomId\":\"R2\",\"inputs\":"
                                            "{\"pb_answer\":\"Ja\"}}]}"), &a), 0);
    assert_string_equal(a.room_id, "R2");
    assert_string_equal(a.answer, "Ja");
    assert_int_equal(wx_card_action_parse(S("{\"items\":[]}"), &a), -1);
    struct wx_message m;
    assert_int_equal(wx_message_parse(S("{\"items\":[{\"id\":\"M\",\"roomId\":\"R\","
                                        "\"text\":\"hej\"}]}"), &m), 0);
    assert_string_equal(m.text, "hej");
    wx_message_clear(&m);
}

/* no_proxy by curl's rules. */
static void test_no_proxy(void **state)
{
    (void)state;
    const char *host = "mercury-connection-partition0-k.wbx2.com";
    assert_false(wx_no_proxy(NULL, host));
    assert_false(wx_no_proxy("", host));
    assert_true(wx_no_proxy("*", host));
    assert_true(wx_no_proxy("localhost, *", host));
    assert_true(wx_no_proxy("wbx2.com", host));
    assert_true(wx_no_proxy(".wbx2.com", host));
    assert_true(wx_no_proxy("localhost,.WBX2.com", host));
    assert_true(wx_no_proxy("example.org " "wbx2.com", host));
    assert_true(wx_no_proxy(host, host));
    assert_true(wx_no_proxy("wbx2.com:443", host));
    assert_true(wx_no_proxy("wbx2.com", "wbx2.com."));
    assert_false(wx_no_proxy("x2.com", host));           /* not on a dot boundary */
    assert_false(wx_no_proxy("webex.com,wbx2.co", host));
    assert_false(wx_no_proxy("a.wbx2.com", "wbx2.com"));  /* a sub-name does not name its parent */
    assert_false(wx_no_proxy("*.wbx2.com", host));        /* curl takes no wildcards but "*" */
    assert_true(wx_no_proxy("127.0.0.1", "127.0.0.1"));
    assert_false(wx_no_proxy("27.0.0.1", "127.0.0.1"));
    assert_false(wx_no_proxy("0.0.1", "127.0.0.1"));      /* an address is no domain */
    assert_false(wx_no_proxy("localhost", ""));
}

/* Kills mutate survivors wx.c:336 (a bad base64 character), :381 (person
 * parse), :527 (trailing junk in Retry-After). */
static void test_strict_parsers(void **state)
{
    (void)state;
    char out[WX_ID_MAX], bad[WX_ID_MAX + 2], uuid[WX_UUID_MAX];
    assert_int_equal(wx_hydra_id("us", "PEOPLE", "abc", out, sizeof out), 0);
    assert_int_equal(wx_hydra_uuid(out, "PEOPLE", uuid, sizeof uuid), 0);
    assert_string_equal(uuid, "abc");
    /* one character that is no base64 at the end: refused, not decoded as 63 */
    snprintf(bad, sizeof bad, "%s*", out);
    assert_int_equal(wx_hydra_uuid(bad, "PEOPLE", uuid, sizeof uuid), -1);
    snprintf(bad, sizeof bad, "%s.", out);
    assert_int_equal(wx_hydra_uuid(bad, NULL, uuid, sizeof uuid), -1);

    struct wx_person p;
    char json[512];
    snprintf(json, sizeof json, "{\"id\":\"%s\",\"emails\":[\"bot@webex.bot\"],\"displayName\":\"Prov Bot\"}", out);
    assert_int_equal(wx_person_parse(S(json), &p), 0);
    assert_string_equal(p.id, out);
    assert_string_equal(p.uuid, "abc");
    assert_string_equal(p.email, "bot@webex.bot");
    assert_string_equal(p.display_name, "Prov Bot");
    assert_int_equal(wx_person_parse(S("{\"id\":\"11111111-2222-3333-4444-555555555555\"}"), &p), 0);
    assert_string_equal(p.uuid, "11111111-2222-3333-4444-555555555555");
    assert_string_equal(p.email, "");
    assert_int_equal(wx_person_parse(S("{\"emails\":[]}"), &p), -1);

    assert_int_equal(wx_retry_after_ms("12abc"), 15000);
    assert_int_equal(wx_retry_after_ms("12 x"), 15000);
    assert_int_equal(wx_retry_after_ms(" 12 \r\n"), 12000);
    assert_int_equal(wx_retry_after_ms("-5"), 15000);
    assert_int_equal(wx_retry_after_ms("3600"), 3600000);
    assert_int_equal(wx_close_policy(4400, NULL), WX_CLOSE_AUTH);
    assert_int_equal(wx_close_policy(4405, NULL), WX_CLOSE_RECONNECT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_u2c),
        cmocka_unit_test(test_devices),
        cmocka_unit_test(test_envelopes),
        cmocka_unit_test(test_frames),
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_replies),
        cmocka_unit_test(test_policies),
        cmocka_unit_test(test_strict_parsers),
        cmocka_unit_test(test_card),
        cmocka_unit_test(test_buttons_card),
        cmocka_unit_test(test_no_proxy),
        cmocka_unit_test(test_reply_body_copy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
