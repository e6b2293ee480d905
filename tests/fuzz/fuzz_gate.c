/* fuzz_gate.c -- the literal gate never says "cannot" to a subject its
 * pattern matches. Input: a pattern, a newline, a subject. The pattern is
 * compiled as the pack compiles its patterns (caseless, UTF, UCP); one
 * PCRE2 refuses is skipped. A gate that rules out a match, or whose two
 * modes (lazy, eager) disagree, aborts. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "gate.h"

#include <pcre2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t plen = nl ? (size_t)(nl - data) : size;
    if (plen == 0 || plen > 256 || memchr(data, '\0', plen))
        return 0;
    char re[257];
    memcpy(re, data, plen);
    re[plen] = '\0';
    const char *subject = nl ? (const char *)nl + 1 : "";
    size_t slen = nl ? size - plen - 1 : 0;
    int code;
    PCRE2_SIZE off;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)re, plen, PCRE2_UTF | PCRE2_UCP | PCRE2_CASELESS |
                                  PCRE2_MATCH_INVALID_UTF, &code, &off, NULL);
    if (!c)
        return 0;
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    gate *g = gate_new(GATE_LAZY), *ge = gate_new(GATE_EAGER);
    if (!md || !g || !ge || gate_add(g, re) != 0 || gate_add(ge, re) != 0)
        abort();
    gate_scan(g, subject, slen);
    gate_scan(ge, subject, slen);
    int rc = pcre2_match(c, (PCRE2_SPTR)subject, slen, 0, 0, md, NULL);
    if (rc >= 0 && !gate_may_match(g, 0))
        abort();   /* a match the gate ruled out */
    if (gate_may_match(g, 0) != gate_may_match(ge, 0))
        abort();   /* the two modes disagree */
    gate_free(g);
    gate_free(ge);
    pcre2_match_data_free(md);
    pcre2_code_free(c);
    return 0;
}
