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
           " Already tried: the edit on the Cloud/SaaS Subscriptions page.");
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

/* A copy of the pack with one file changed by the python statement `edit`
 * (D is the copy's folder) must fail to load with a message matching `want`. */
static void expect_refused(const char *edit, const char *want)
{
    char dir[] = "/tmp/provbot_casefmt_XXXXXX", cmd[4096], err[512];
    assert_non_null(mkdtemp(dir));
    snprintf(cmd, sizeof cmd, "cp %s/*.json %s/ && python3 -c \"import json;D='%s';%s\"",
             intents(), dir, dir, edit);
    assert_int_equal(system(cmd), 0);
    pack *p = pack_load(dir, err, sizeof err);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    assert_null(p);
    if (!strstr(err, want))
        fail_msg("got \"%s\", want \"%s\"", err, want);
}

#define LOAD(f) "d=json.load(open(D+'/" f "'))"
#define SAVE(f) ";json.dump(d,open(D+'/" f "','w'))"

/* The case types are checked when the pack loads: names, facts, the step's type. */
static void test_types_checked(void **state)
{
    (void)state;
    expect_refused(LOAD("cases.json") ";d['types']['contact_email']['form'].append('mood')" SAVE("cases.json"),
                   "cases.json: types.contact_email.form: \"mood\" is not a fact of flows.json");
    expect_refused(LOAD("cases.json") ";d['types']['contact_email']['refuse_when']={'mood':'x'}" SAVE("cases.json"),
                   "cases.json: types.contact_email.refuse_when: \"mood\" is not a fact of flows.json");
    expect_refused(LOAD("cases.json") ";del d['types']['contact_email']['name']" SAVE("cases.json"),
                   "cases.json: types.contact_email.name: missing");
    expect_refused(LOAD("cases.json") ";d['types']['contact_email']['keep']=['ponr']" SAVE("cases.json"),
                   "cases.json: types.contact_email.keep: \"ponr\" is not in the form");
    expect_refused(LOAD("cases.json") ";d['types']['contact_email']['refused']='nowhere'" SAVE("cases.json"),
                   "cases.json: types.contact_email.refused: no such message");
    expect_refused(LOAD("cases.json") ";d['types']['contact_email']['summary']={}" SAVE("cases.json"),
                   "cases.json: types.contact_email.summary.text");
    expect_refused(LOAD("flows.json") ";[s.update(case='parcel') for s in d['steps'] if s.get('action')=='file_case']"
                   SAVE("flows.json"), "].case: unknown case type \"parcel\"");
    expect_refused(LOAD("flows.json") ";d['steps'][0]['case']='contact_email'" SAVE("flows.json"),
                   "flows.json: steps[0].case: only a file_case step names a case type");
    expect_refused(LOAD("pack.json") ";d['roles']['mood']='thanks'" SAVE("pack.json"),
                   "pack.json: roles.mood: not a role the dialog knows");
    expect_refused(LOAD("pack.json") ";del d['roles']['fallback']" SAVE("pack.json"),
                   "pack.json: roles.fallback: missing");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clauses),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_types_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
