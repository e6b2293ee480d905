/* text.h -- UTF-8 text normalisation for understanding.
 *
 * Turns any bytes (invalid UTF-8, NULs, control characters included) into the
 * forms the classifier and the rules work on:
 *   TEXT_LOWER  lower case (Unicode simple case folding for Latin letters:
 *               Å -> å, É -> é), punctuation -> space, runs of one letter
 *               longer than two cut to two ("heeelp" -> "heelp"), spaces
 *               collapsed, trimmed;
 *   TEXT_FOLD   the same with diacritics removed as well (ä, å -> a, ö -> o,
 *               é -> e), the form people type without Swedish keys.
 * Digits are kept; '@', '.', '_' and '-' are punctuation here (the entity
 * extractor reads the raw text for emails and references).
 * The output is always valid UTF-8 and NUL-terminated.
 */
#ifndef PROVBOT_TEXT_H
#define PROVBOT_TEXT_H

#include <stdbool.h>
#include <stddef.h>

enum text_form { TEXT_LOWER, TEXT_FOLD };

/* Normalises in[0..len) into out (capacity cap, cap >= 1). Input beyond what
 * fits is dropped at a character boundary. Returns the output length. */
size_t text_normalize(const char *in, size_t len, enum text_form form,
                      char *out, size_t cap);

/* A sentence of a message: bytes [off, off + len) of the raw text. */
struct text_span {
    size_t off, len;
};

/* Splits s[0..len) into sentences: a break after '.', '!', '?' or ';'
 * followed by white space (so "a.b@x.se" and "1.5" stay whole) and at every
 * line break. Spans hold at least one letter or digit; at most max are
 * stored (the last one then runs to the end). Returns how many. */
size_t text_sentences(const char *s, size_t len, struct text_span *out, size_t max);

/* Copies in[0..len) into a new malloc'd string with every invalid UTF-8
 * sequence and every NUL replaced by U+FFFD, so it can go into JSON.
 * Returns NULL only when out of memory; caller frees. */
char *text_sanitize(const char *in, size_t len);

/* True when s[0..len) is valid UTF-8 with no NUL. */
bool text_utf8_valid(const char *s, size_t len);

/* Decodes one code point at s (n bytes left). Returns its length in bytes
 * (>= 1) and the code point in *cp, or U+FFFD and 1 for an invalid byte. */
size_t text_decode(const unsigned char *s, size_t n, unsigned *cp);

/* Writes cp as UTF-8 into out (4 bytes room); returns the length. */
size_t text_encode(unsigned cp, char *out);

#endif
