/* gate.h -- literal prefilters that spare most regular-expression runs.
 *
 * A gate holds, for each pattern added, a set of literals one of which any
 * match must contain (found at load time from the pattern's text: its fixed
 * words, '^' and '$' included). gate_scan() notes the short character
 * n-grams of a subject once; gate_may_match() then tells, from a few bit
 * tests, whether a pattern can match at all: false means it cannot, true
 * means run it. The answer is never wrong in the "cannot" direction:
 *   - classes ([...], \d \w \s and their negations), '.', a character not
 *     ASCII (caseless, U+212A KELVIN SIGN matches "k"), counted repeats
 *     and look-arounds ((?= (?! (?<= (?<!) are read as telling no literal;
 *   - a pattern the analysis does not understand (other escapes than those,
 *     \b, \B and punctuation, "[:name:]" in a class, other (? groups than
 *     (?: and the look-arounds, a control character) has no literals and
 *     always may match;
 *   - the patterns are taken as compiled with PCRE2_CASELESS (literals are
 *     lower-cased), and a subject that is empty or holds any byte outside
 *     printable ASCII lets every pattern through.
 * A gate is read-only after gate_add() except for the scratch of
 * gate_scan() (and of GATE_EAGER's index, built at the first scan after an
 * add): one thread at a time.
 */
#ifndef PROVBOT_GATE_H
#define PROVBOT_GATE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct gate gate;

/* How a gate answers after a scan: GATE_LAZY works a pattern out each time
 * it is asked (best when a scan asks of each pattern once at most, or of
 * few of them), GATE_EAGER
 * marks every pattern in gate_scan() through an index of the literals by
 * their first n-gram, a cost that follows the subject's n-grams, not the
 * number of patterns (best when a scan asks of most of them). The answers
 * are the same. */
enum gate_mode { GATE_LAZY, GATE_EAGER };

/* An empty gate; NULL when out of memory. */
gate *gate_new(enum gate_mode mode);
void gate_free(gate *g);

/* Adds pattern re (NUL-terminated). Returns its number (0, 1, ... in the
 * order added), or -1 when out of memory. A pattern whose literals cannot
 * be told is added as one that always may match. */
int gate_add(gate *g, const char *re);

/* True when pattern k has literals (a gate that can say no; for tests). */
bool gate_has_literals(const gate *g, int k);

/* Notes subject s[0..len) for the gate_may_match() calls that follow. */
void gate_scan(gate *g, const char *s, size_t len);

/* False only when pattern k cannot match the subject of the last
 * gate_scan(). */
bool gate_may_match(gate *g, int k);

/* False only when none of patterns k .. k + n - 1 can match it (GATE_EAGER:
 * a few word tests for the lot). */
bool gate_may_any(gate *g, int k, size_t n);

#endif
