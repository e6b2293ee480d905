/* test_casefmt.c -- a case's summary from intents/cases.json: every clause
 * of the template, the labels, the sentence stop and the "none" text, with
 * the exact wording support reads (the text that was C before). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "casefmt.h"
#include "pack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *intents(void)
{
    return getenv("PROVBOT_INTENTS") ? getenv("PROVBOT_INTENTS") : "intents";
}

static void expect(const pack *p, const char *facts_json, const char *want)
{
    cJSON *f = cJSON_Parse(facts_json);
    assert_non_null(f);
    char *got = casefmt_summary(pack_case_type(p, "contact_email")->doc, f);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
    cJSON_Delete(f);
}

#define HEAD "The provisioning contact email cannot be changed in CCW."

static void test_clauses(void **state)
{
    (void)state;
    char err[512];
    pack *p = pack_load(intents(), err, sizeof err);
    assert_non_null(p);
    assert_non_null(pack_case_type(p, "contact_email"));
    expect(p, "{}", HEAD " Order line status: unknown. Organization onboarded (PONR): unknown."
                    " Already tried: nothing reported.");
    expect(p, "{\"description\":\"it spins?\",\"status\":\"closed\",\"ponr\":\"no\",\"edit\":\"failed\"}",
           HEAD " Reported: \"it spins?\" Order line status: Closed. Organization onboarded (PONR): no."
           " Already tried: edited the contact on the Cloud/SaaS Subscriptions page (Edit, Save, Done).");
    expect(p, "{\"description\":\"no button\",\"status\":\"awaiting\",\"access\":\"no\",\"helper\":\"no\","
              "\"cache\":\"shown\",\"retry\":\"failed\",\"edit\":\"-\"}",
           HEAD " Reported: \"no button.\" Order line status: Awaiting Provisioning Details."
           " Organization onboarded (PONR): unknown. Already tried: has no edit access in CCW, and nobody"
           " with access can make the change; cleared cache and cookies, tried another browser and an"
           " incognito window.");
    /* no access alone (someone else may still do it) and steps only shown are not "tried" */
    expect(p, "{\"access\":\"no\",\"cache\":\"shown\"}",
           HEAD " Order line status: unknown. Organization onboarded (PONR): unknown. Already tried: nothing reported.");
    expect(p, "{\"cache\":\"yes\"}",
           HEAD " Order line status: unknown. Organization onboarded (PONR): unknown. Already tried: browser"
           " steps, as reported (cache and cookies, another browser or incognito).");
    expect(p, "{\"status\":\"unknown\",\"cache\":\"no\"}",
           HEAD " Order line status: unknown. Organization onboarded (PONR): unknown. Already tried: nothing reported.");
    pack_free(p);
}

static void test_check(void **state)
{
    (void)state;
    char err[256];
    cJSON *bad = cJSON_Parse("{\"summary\":{\"text\":\"x\",\"parts\":{\"t\":{\"items\":[{\"if\":3,\"text\":\"y\"}]}}}}");
    assert_true(casefmt_check(bad, err, sizeof err) < 0);
    assert_non_null(strstr(err, "cases.json: summary.parts.t.items"));
    cJSON_Delete(bad);
    bad = cJSON_Parse("{\"summary\":{}}");
    assert_true(casefmt_check(bad, err, sizeof err) < 0);
    assert_non_null(strstr(err, "summary.text"));
    cJSON_Delete(bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clauses),
        cmocka_unit_test(test_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
