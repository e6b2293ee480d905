/* test_lexicon.c -- the objects of a request (intents/objects.json): synonyms
 * to concept tokens, foreign objects, a bad file refused; sentence splitting;
 * and what nlu_classify() makes of them (foreign, intent2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lexicon.h"
#include "nlu.h"
#include "text.h"

static const char *intents(void)
{
    return getenv("PROVBOT_INTENTS") ? getenv("PROVBOT_INTENTS") : "intents";
}

static pack *load(void)
{
    char err[512];
    pack *p = pack_load(intents(), err, sizeof err);
    if (!p)
        fail_msg("pack: %s", err);
    assert_non_null(pack_lexicon(p));
    return p;
}

/* Rewrites text (folded first) and checks the result and the objects found. */
static void rewrites(const lex *x, const char *text, const char *want, int ndomain,
                     const char *foreign)
{
    char fold[512], out[512];
    struct lex_found fd;
    size_t n = text_normalize(text, strlen(text), TEXT_FOLD, fold, sizeof fold);
    lex_rewrite(x, fold, n, out, sizeof out, 0, &fd);
    assert_string_equal(out, want);
    assert_int_equal(fd.ndomain, ndomain);
    if (foreign)
        assert_string_equal(lex_id(x, fd.foreign), foreign);
    else
        assert_int_equal(fd.foreign, -1);
}

static void test_synonyms_become_concepts(void **state)
{
    (void)state;
    pack *p = load();
    const lex *x = pack_lexicon(p);
    rewrites(x, "the welcome mail isn't in their inbox", "the #provisioning_email isn t in their inbox", 1, NULL);
    rewrites(x, "Välkomstmejlet har inte kommit", "#provisioning_email har inte kommit", 1, NULL);
    rewrites(x, "fire off the activation message", "fire off the #provisioning_email", 1, NULL);
    rewrites(x, "change the billing contact", "change the #billing_contact", 0, "billing_contact");
    rewrites(x, "Ändra faktureringskontakten", "andra #billing_contact", 0, "billing_contact");
    /* the longest synonym wins: a point of no return is not a return */
    rewrites(x, "past the point of no return", "past the #ponr", 1, NULL);
    rewrites(x, "where is my return", "where is my #return", 0, "return");
    rewrites(x, "nothing to see", "nothing to see", 0, NULL);
    /* "ship-to contact" is one foreign object, not a contact of ours */
    rewrites(x, "update the ship-to contact", "update the #shipping", 0, "shipping");
    rewrites(x, "the bill to address is wrong", "the #billing_contact is wrong", 0, "billing_contact");
    assert_true(lex_is_task(x, pack_intent_find(p, "resend_email")));
    assert_false(lex_is_task(x, pack_intent_find(p, "thanks")));
    assert_string_equal(pack_text(lex_name(x, 0), "en"), "the provisioning contact");
    assert_null(lex_name(x, -1));
    assert_null(lex_name(x, (int)lex_count(x)));
    pack_free(p);
}

static void test_foreign_is_context_beside_ours(void **state)
{
    (void)state;
    pack *p = load();
    char fold[256], out[256];
    struct lex_found fd;
    const char *t = "we got the order confirmation but not the provisioning email";
    size_t n = text_normalize(t, strlen(t), TEXT_FOLD, fold, sizeof fold);
    lex_rewrite(pack_lexicon(p), fold, n, out, sizeof out, LEX_CONTEXT_FOREIGN, &fd);
    assert_string_equal(out, "we got the but not the #provisioning_email");
    assert_int_equal(fd.ndomain, 1);
    assert_int_equal(fd.nforeign, 1);
    /* a full output buffer cuts at a word and stays terminated */
    lex_rewrite(pack_lexicon(p), fold, n, out, 12, 0, NULL);
    assert_string_equal(out, "we got the");
    /* no lexicon: copied as it is */
    lex_rewrite(NULL, fold, n, out, sizeof out, 0, &fd);
    assert_string_equal(out, fold);
    pack_free(p);
}

/* A copy of intents/ with objects.json replaced by doc must be refused with
 * a message containing want. */
static void refused(const char *doc, const char *want)
{
    char dir[] = "/tmp/provbot-lex-XXXXXX", cmd[512], path[600], err[512];
    assert_non_null(mkdtemp(dir));
    snprintf(cmd, sizeof cmd, "cp %s/*.json %s/", intents(), dir);
    assert_int_equal(system(cmd), 0);
    snprintf(path, sizeof path, "%s/%s", dir, LEX_FILE);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(doc, f);
    fclose(f);
    pack *p = pack_load(dir, err, sizeof err);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    assert_null(p);
    if (!strstr(err, want))
        fail_msg("expected \"%s\" in \"%s\"", want, err);
}

static void test_bad_file_refused(void **state)
{
    (void)state;
    const char *ok_head = "{\"task_intents\":[\"resend_email\"],\"domain\":[],\"foreign\":[";
    char doc[512];
    refused("{\"domain\":[],\"foreign\":[]}", "objects.json: task_intents: missing");
    refused("{\"task_intents\":[\"nope\"],\"domain\":[],\"foreign\":[]}",
            "objects.json: task_intents[0]: not the id of an intent");
    snprintf(doc, sizeof doc, "%s{\"id\":\"q\",\"name\":{\"en\":\"quotes\"},"
             "\"synonyms\":{\"en\":[\"quote\"],\"sv\":[\"offert\"]}}]}", ok_head);
    refused(doc, "objects.json: foreign[0].name.sv: missing");
    snprintf(doc, sizeof doc, "%s{\"id\":\"q\",\"name\":{\"en\":\"a\",\"sv\":\"b\"},"
             "\"synonyms\":{\"en\":[\"e-post\"],\"sv\":[\"x\"]}}]}", ok_head);
    refused(doc, "objects.json: foreign[0].synonyms.en[0]: \"e-post\" folds to two words");
    snprintf(doc, sizeof doc, "%s{\"id\":\"Bad Id\",\"name\":{\"en\":\"a\",\"sv\":\"b\"},"
             "\"synonyms\":{\"en\":[\"x\"],\"sv\":[\"x\"]}}]}", ok_head);
    refused(doc, "objects.json: foreign[0].id: missing or not [a-z0-9_]");
    refused("{\"task_intents\": [", "objects.json: bad JSON at line 1");
    const char *t = "{\"task_intents\":[],\"domain\":[],\"foreign\":[],\"refinements\":";
    snprintf(doc, sizeof doc, "%s[]}", t);
    refused(doc, "objects.json: refinements: not an object");
    snprintf(doc, sizeof doc, "%s{\"nope\":[\"ponr\"]}}", t);
    refused(doc, "objects.json: refinements.nope: not the id of an intent");
    snprintf(doc, sizeof doc, "%s{\"change_contact_email\":[\"ponr\",\"nope\"]}}", t);
    refused(doc, "objects.json: refinements.change_contact_email[1]: not the id of another intent");
    snprintf(doc, sizeof doc, "%s{\"ponr\":[\"ponr\"]}}", t);
    refused(doc, "objects.json: refinements.ponr[0]: not the id of another intent");
    snprintf(doc, sizeof doc, "%s{\"ponr\":[\"closed_line\"],\"resend_email\":[\"closed_line\"]}}", t);
    refused(doc, "objects.json: refinements.resend_email[0]: \"closed_line\" already refines another intent");
}

static void test_refinements(void **state)
{
    (void)state;
    pack *p = load();
    const lex *x = pack_lexicon(p);
    int change = pack_intent_find(p, "change_contact_email");
    assert_true(lex_refines(x, pack_intent_find(p, "closed_line"), change));
    assert_true(lex_refines(x, pack_intent_find(p, "ponr"), change));
    assert_false(lex_refines(x, change, pack_intent_find(p, "closed_line")));
    assert_false(lex_refines(x, pack_intent_find(p, "thanks"), change));
    assert_false(lex_refines(x, -1, change));
    assert_false(lex_refines(NULL, pack_intent_find(p, "ponr"), change));
    pack_free(p);
}

static void spans_are(const char *s, int n, const char *const *want)
{
    struct text_span sp[8];
    size_t got = text_sentences(s, strlen(s), sp, 8);
    assert_int_equal(got, n);
    for (int i = 0; i < n; i++) {
        char buf[128];
        snprintf(buf, sizeof buf, "%.*s", (int)sp[i].len, s + sp[i].off);
        assert_string_equal(buf, want[i]);
    }
}

static void test_sentences(void **state)
{
    (void)state;
    spans_are("Hi again. Yesterday you opened a case! Any news?", 3,
              (const char *const[]){ "Hi again.", " Yesterday you opened a case!", " Any news?" });
    spans_are("mail a.b@x.se about 1.5 days", 1, (const char *const[]){ "mail a.b@x.se about 1.5 days" });
    spans_are("first line\nsecond line", 2, (const char *const[]){ "first line\n", "second line" });
    spans_are("... ?! ", 0, NULL);
    spans_are("", 0, NULL);
    struct text_span sp[2];
    const char *many = "a. b. c. d.";
    assert_int_equal(text_sentences(many, strlen(many), sp, 2), 2);
    assert_int_equal(sp[1].off + sp[1].len, strlen(many)); /* the last one runs to the end */
}

static void test_classify_foreign_and_second(void **state)
{
    (void)state;
    char err[256];
    pack *p = load();
    /* through the suites' shared model cache when there is one (training
     * takes seconds under valgrind); the same model, test_nlu_cache checks */
    nlu *m = nlu_open(p, getenv("PROVBOT_MODEL_CACHE"), err, sizeof err);
    struct nlu_result r;
    assert_non_null(m);
    const char *t = "Can you resend the quote to the customer?";
    nlu_classify(m, t, strlen(t), NULL, &r);
    assert_int_equal(r.intent, pack_intent_find(p, "out_of_scope"));
    assert_non_null(r.foreign);
    assert_string_equal(pack_text(r.foreign, "en"), "quotes");
    assert_int_equal(r.intent2, -1);
    t = "Can you resend the provisioning email to the customer?";
    nlu_classify(m, t, strlen(t), NULL, &r);
    assert_int_equal(r.intent, pack_intent_find(p, "resend_email"));
    assert_null(r.foreign);
    t = "The customer never got the provisioning email. Also, what is the status of the case you opened for me last week?";
    nlu_classify(m, t, strlen(t), NULL, &r);
    assert_true(r.intent == pack_intent_find(p, "email_not_received") ||
                r.intent == pack_intent_find(p, "case_status"));
    assert_true(r.intent2 == pack_intent_find(p, "email_not_received") ||
                r.intent2 == pack_intent_find(p, "case_status"));
    assert_int_not_equal(r.intent, r.intent2);
    assert_true(r.confidence2 >= 0.5);
    /* the context's troubleshooting (a pattern of edit_failed) does not
     * outweigh the question that asks for a person */
    t = "I cleared the cache and tried incognito twice, nothing changed. Could someone at Cisco take it over?";
    nlu_classify(m, t, strlen(t), NULL, &r);
    assert_int_equal(r.intent, pack_intent_find(p, "open_case"));
    /* a change asked about a Closed line is the Closed line's question */
    t = "Our order line went to Closed last week because nobody set it up. Can we still change who the provisioning contact is?";
    nlu_classify(m, t, strlen(t), NULL, &r);
    assert_int_equal(r.intent, pack_intent_find(p, "closed_line"));
    nlu_free(m);
    pack_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_synonyms_become_concepts),
        cmocka_unit_test(test_foreign_is_context_beside_ours),
        cmocka_unit_test(test_bad_file_refused),
        cmocka_unit_test(test_refinements),
        cmocka_unit_test(test_sentences),
        cmocka_unit_test(test_classify_foreign_and_second),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
