/* test_rt.c -- Request Tracker REST2: URLs, the ticket body, reply parsers,
 * verdicts (the wire checks against a real RT are in tests/rt.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"

#define S(lit) lit, sizeof lit - 1

static struct case_rec sample(void)
{
    struct case_rec c;
    memset(&c, 0, sizeof c);
    strcpy(c.id, "PB-000042");
    strcpy(c.type, "Change provisioning contact email"); /* the case type's name */
    strcpy(c.order_ref, "55512345");
    strcpy(c.new_email, "it-admin@example.org");
    strcpy(c.requester, "partner@example.com");
    strcpy(c.lang, "en");
    strcpy(c.created_at, "2026-11-24T07:00:00Z");
    c.summary = strdup("The provisioning contact email cannot be changed in CCW.");
    c.transcript = strdup("user: save fails\nbot: sorry\n");
    c.status = CASE_QUEUED;
    return c;
}

static void test_urls(void **state)
{
    (void)state;
    char *u = rt_search_url("https://rt.example.com/rt/", "PB-000001");
    assert_string_equal(u, "https://rt.example.com/rt/REST/2.0/tickets?per_page=20&orderby=id"
                           "&order=ASC&query=%27CF.%7BProvbot%20Case%7D%27%20%3D%20%27PB-000001%27");
    free(u);
    u = rt_search_sql("PB-000001");
    assert_string_equal(u, "'CF.{Provbot Case}' = 'PB-000001'");
    free(u);
    /* base given with /REST/2.0 (and slashes) works the same */
    u = rt_create_url("http://127.0.0.1:8080/REST/2.0//");
    assert_string_equal(u, "http://127.0.0.1:8080/REST/2.0/ticket");
    free(u);
    u = rt_queue_url("http://rt", "Provisioning Help/EU");
    assert_string_equal(u, "http://rt/REST/2.0/queue/Provisioning%20Help%2FEU");
    free(u);
    u = rt_ticket_url("http://rt", "17");
    assert_string_equal(u, "http://rt/REST/2.0/ticket/17");
    free(u);
    /* nothing that could change the query or the path gets in */
    assert_null(rt_search_sql("PB-1' OR id > '0"));
    assert_null(rt_search_url("http://rt", ""));
    assert_null(rt_ticket_url("http://rt", "../queue/1"));
    assert_null(rt_ticket_url("http://rt", "T-1")); /* another backend's id */
    assert_null(rt_queue_url("http://rt", ""));
}

static void test_ticket_body(void **state)
{
    (void)state;
    struct case_rec c = sample();
    cJSON *att = cJSON_Parse("[{\"name\":\"shot.png\",\"mime\":\"image/png\",\"data\":\"iVBORw0KGgo=\"},"
                             "{\"name\":\"empty.png\",\"mime\":\"image/png\",\"data\":\"\"}]");
    char *body = rt_ticket_body(&c, "Provisioning", att);
    cJSON *b = cJSON_Parse(body);
    assert_non_null(b);
    assert_string_equal(cJSON_GetObjectItem(b, "Queue")->valuestring, "Provisioning");
    assert_string_equal(cJSON_GetObjectItem(b, "Subject")->valuestring,
                        "Change provisioning contact email: order 55512345 (PB-000042)");
    assert_string_equal(cJSON_GetObjectItem(b, "Requestor")->valuestring, "partner@example.com");
    assert_string_equal(cJSON_GetObjectItem(b, "ContentType")->valuestring, "text/plain");
    const char *text = cJSON_GetObjectItem(b, "Content")->valuestring;
    assert_non_null(strstr(text, "cannot be changed in CCW"));
    assert_non_null(strstr(text, "New provisioning contact email: it-admin@example.org"));
    assert_non_null(strstr(text, "user: save fails\nbot: sorry"));
    const cJSON *cf = cJSON_GetObjectItem(b, "CustomFields");
    assert_int_equal(cJSON_GetArraySize(cf), 4);
    assert_string_equal(cJSON_GetObjectItem(cf, "Case Type")->valuestring, "Change provisioning contact email");
    assert_string_equal(cJSON_GetObjectItem(cf, "Order Reference")->valuestring, "55512345");
    assert_string_equal(cJSON_GetObjectItem(cf, "New Provisioning Email")->valuestring, "it-admin@example.org");
    assert_string_equal(cJSON_GetObjectItem(cf, "Provbot Case")->valuestring, "PB-000042");
    const cJSON *a = cJSON_GetObjectItem(b, "Attachments");
    assert_int_equal(cJSON_GetArraySize(a), 1); /* the empty one is left out */
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(a, 0), "FileName")->valuestring, "shot.png");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(a, 0), "FileType")->valuestring, "image/png");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(a, 0), "FileContent")->valuestring, "iVBORw0KGgo=");
    cJSON_Delete(b);
    free(body);

    /* no requester, no transcript, no attachments */
    c.requester[0] = '\0';
    free(c.transcript);
    c.transcript = NULL;
    body = rt_ticket_body(&c, "Q", NULL);
    b = cJSON_Parse(body);
    assert_null(cJSON_GetObjectItem(b, "Requestor"));
    assert_null(cJSON_GetObjectItem(b, "Attachments"));
    assert_null(strstr(cJSON_GetObjectItem(b, "Content")->valuestring, "Conversation"));
    cJSON_Delete(b);
    free(body);
    cJSON_Delete(att);
    case_rec_clear(&c);
}

/* cJSON's allocator, failing its fail_at-th call only (0: never), as a
 * transient shortage would. */
static int alloc_n, fail_at;
static void *failing_malloc(size_t n)
{
    return fail_at && ++alloc_n == fail_at ? NULL : malloc(n);
}

/* Out of memory anywhere while the body is built gives no body at all,
 * never one missing a field: a ticket without "Provbot Case" would defeat
 * the search-before-create that prevents duplicates. */
static void test_ticket_body_no_memory(void **state)
{
    (void)state;
    struct case_rec c = sample();
    cJSON *att = cJSON_Parse("[{\"name\":\"shot.png\",\"mime\":\"image/png\",\"data\":\"iVBORw0KGgo=\"}]");
    cJSON_Hooks hooks = { failing_malloc, free };
    int nulls = 0;
    cJSON_InitHooks(&hooks);
    for (fail_at = 1; fail_at < 200; fail_at++) {
        alloc_n = 0;
        char *body = rt_ticket_body(&c, "Q", att);
        int at = fail_at;
        fail_at = 0;                    /* parse what came out with a working allocator */
        if (!body) {
            nulls++;
        } else {
            cJSON *b = cJSON_Parse(body);
            const cJSON *cf = cJSON_GetObjectItem(b, "CustomFields");
            assert_non_null(b);
            assert_int_equal(cJSON_GetArraySize(cf), 4);
            assert_string_equal(cJSON_GetObjectItem(cf, "Provbot Case")->valuestring, "PB-000042");
            assert_non_null(cJSON_GetObjectItem(b, "Queue"));
            assert_non_null(cJSON_GetObjectItem(b, "Subject"));
            assert_non_null(cJSON_GetObjectItem(b, "Requestor"));
            assert_non_null(cJSON_GetObjectItem(b, "Content"));
            assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(b, "Attachments")), 1);
            cJSON_Delete(b);
        }
        free(body);
        fail_at = at;
    }
    fail_at = 0;
    cJSON_InitHooks(NULL);
    assert_true(nulls > 10);            /* the failures did happen */
    cJSON_Delete(att);
    case_rec_clear(&c);
}

static void test_parse_replies(void **state)
{
    (void)state;
    char id[32], st[32];
    assert_int_equal(rt_parse_search(S("{\"count\":2,\"items\":[{\"type\":\"ticket\",\"id\":\"12\"},"
                                       "{\"type\":\"ticket\",\"id\":\"9\"}],\"total\":2}"), id, sizeof id), 1);
    assert_string_equal(id, "9"); /* the oldest ticket of the case */
    assert_int_equal(rt_parse_search(S("{\"items\":[{\"id\":7}]}"), id, sizeof id), 1);
    assert_string_equal(id, "7");
    assert_int_equal(rt_parse_search(S("{\"count\":0,\"items\":[],\"total\":0}"), id, sizeof id), 0);
    assert_string_equal(id, "");
    assert_int_equal(rt_parse_search(S("<html>proxy error</html>"), id, sizeof id), -1);
    assert_int_equal(rt_parse_search(NULL, 0, id, sizeof id), -1);

    assert_int_equal(rt_parse_created(S("{\"id\":\"31\",\"type\":\"ticket\",\"_url\":\"x\"}"), id, sizeof id), 0);
    assert_string_equal(id, "31");
    assert_int_equal(rt_parse_created(S("{\"id\":\"31; DROP\"}"), id, sizeof id), -1);
    assert_int_equal(rt_parse_created(S("{}"), id, sizeof id), -1);

    assert_int_equal(rt_parse_status(S("{\"id\":31,\"Status\":\"open\"}"), st, sizeof st), 0);
    assert_string_equal(st, "open");
    assert_int_equal(rt_parse_status(S("{\"id\":31}"), st, sizeof st), -1);
    assert_int_equal(rt_parse_status(S("[1,2"), st, sizeof st), -1);
}

static void test_check_queue(void **state)
{
    (void)state;
    char why[240];
    static const char all[] = "{\"Name\":\"Q\",\"TicketCustomFields\":["
        "{\"name\":\"Case Type\"},{\"name\":\"Order Reference\"},"
        "{\"name\":\"New Provisioning Email\"},{\"name\":\"Provbot Case\"},{\"name\":\"Other\"}]}";
    assert_int_equal(rt_check_queue(all, sizeof all - 1, "Q", why, sizeof why), 0);
    assert_string_equal(why, "");
    static const char some[] = "{\"TicketCustomFields\":[{\"name\":\"Case Type\"},{\"name\":\"Order Reference\"}]}";
    assert_int_equal(rt_check_queue(some, sizeof some - 1, "Q", why, sizeof why), -1);
    assert_string_equal(why, "RT: ticket custom fields 'New Provisioning Email', 'Provbot Case' "
                             "missing or not applied to queue 'Q'");
    assert_int_equal(rt_check_queue(S("{\"Name\":\"Q\"}"), "Q", why, sizeof why), -1);
    assert_non_null(strstr(why, "'Case Type'"));
    assert_int_equal(rt_check_queue(S("nope"), "Q", why, sizeof why), -1);
    assert_non_null(strstr(why, "not readable"));
}

static void test_verdicts(void **state)
{
    (void)state;
    char why[240];
    assert_int_equal(rt_judge(RT_STEP_CREATE, 201, S("{\"id\":\"1\"}"), "Q", why, sizeof why), CASE_DELIVERED);
    assert_string_equal(why, "");
    assert_int_equal(rt_judge(RT_STEP_SEARCH, 200, S("{}"), "Q", why, sizeof why), CASE_DELIVERED);
    /* transient: retry */
    assert_int_equal(rt_judge(RT_STEP_CREATE, 0, NULL, 0, "Q", why, sizeof why), CASE_RETRY);
    assert_int_equal(rt_judge(RT_STEP_CREATE, 500, S("oops"), "Q", why, sizeof why), CASE_RETRY);
    assert_string_equal(why, "RT: HTTP 500");
    assert_int_equal(rt_judge(RT_STEP_SEARCH, 503, NULL, 0, "Q", why, sizeof why), CASE_RETRY);
    assert_int_equal(rt_judge(RT_STEP_QUEUE, 429, NULL, 0, "Q", why, sizeof why), CASE_RETRY);
    assert_int_equal(rt_judge(RT_STEP_QUEUE, 408, NULL, 0, "Q", why, sizeof why), CASE_RETRY);
    /* for good, named plainly */
    assert_int_equal(rt_judge(RT_STEP_QUEUE, 401, S("{\"message\":\"Unauthorized\"}"), "Q", why, sizeof why),
                     CASE_REJECTED);
    assert_non_null(strstr(why, "refused the token (HTTP 401)"));
    assert_non_null(strstr(why, "PROVBOT_RT_TOKEN"));
    assert_int_equal(rt_judge(RT_STEP_QUEUE, 404, S("{\"message\":\"Not Found\"}"), "Sales", why, sizeof why),
                     CASE_REJECTED);
    assert_string_equal(why, "RT: unknown queue 'Sales' (HTTP 404): check PROVBOT_RT_QUEUE");
    assert_int_equal(rt_judge(RT_STEP_CREATE, 403,
                              S("{\"message\":\"No permission to create tickets in the queue 'Sales'\"}"),
                              "Sales", why, sizeof why), CASE_REJECTED);
    assert_non_null(strstr(why, "unknown queue 'Sales', or its token's user may not"));
    assert_int_equal(rt_judge(RT_STEP_SEARCH, 403, NULL, 0, "Q", why, sizeof why), CASE_REJECTED);
    assert_non_null(strstr(why, "may not search tickets"));
    assert_int_equal(rt_judge(RT_STEP_CREATE, 400, S("{\"message\":\"Could not create ticket. Queue not set\"}"),
                              "Q", why, sizeof why), CASE_REJECTED);
    assert_string_equal(why, "RT: HTTP 400: Could not create ticket. Queue not set");
    assert_int_equal(rt_judge(RT_STEP_CREATE, 422, S("not json"), "Q", why, sizeof why), CASE_REJECTED);
    assert_string_equal(why, "RT: HTTP 422");
}

/* Kills mutate survivor rt.c:18: ids of up to 64 characters, not 65. */
static void test_id_bounds(void **state)
{
    (void)state;
    char id[70];
    memset(id, '7', 65);
    id[64] = '\0';
    char *u = rt_ticket_url("http://rt", id);
    assert_non_null(u);
    assert_int_equal(strlen(u), strlen("http://rt/REST/2.0/ticket/") + 64);
    free(u);
    id[64] = '7';
    id[65] = '\0';
    assert_null(rt_ticket_url("http://rt", id));
    assert_null(rt_ticket_url("http://rt", NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_ticket_body),
        cmocka_unit_test(test_ticket_body_no_memory),
        cmocka_unit_test(test_parse_replies),
        cmocka_unit_test(test_check_queue),
        cmocka_unit_test(test_verdicts),
        cmocka_unit_test(test_id_bounds),
    };
    return cmocka_run_group_tests_name("rt", tests, NULL, NULL);
}
