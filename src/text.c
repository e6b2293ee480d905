/* text.c -- UTF-8 decoding, Latin case folding and diacritic folding.
 *
 * Only the Latin-1 Supplement and Latin Extended-A blocks are folded by
 * table: they hold every letter Swedish and English users type. Other
 * letters pass through unchanged (still valid UTF-8), so a message in
 * another script is kept, not mangled.
 */
#include "text.h"

#include <stdlib.h>
#include <string.h>

size_t text_decode(const unsigned char *s, size_t n, unsigned *cp)
{
    unsigned c = s[0];
    size_t need;
    unsigned min;

    if (c < 0x80) { *cp = c; return 1; }
    if (c >= 0xC2 && c <= 0xDF) { need = 2; c &= 0x1F; min = 0x80; }
    else if (c >= 0xE0 && c <= 0xEF) { need = 3; c &= 0x0F; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { need = 4; c &= 0x07; min = 0x10000; }
    else goto bad;
    if (n < need)
        goto bad;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80)
            goto bad;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        goto bad;
    *cp = c;
    return need;
bad:
    *cp = 0xFFFD;
    return 1;
}

size_t text_encode(unsigned cp, char *out)
{
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Base letters of U+00C0..U+00FF after lower-casing; 0 where none. */
static const char latin1_base[65] =
    "aaaaaaaceeeeiiiidnooooo\0ouuuuyt"
    "saaaaaaaceeeeiiiidnooooo\0ouuuuyty";

/* Lower case of non-ASCII cp (Latin-1 and Latin Extended-A). */
static unsigned fold_case(unsigned cp)
{
    if ((cp >= 0xC0 && cp <= 0xDE) && cp != 0xD7)
        return cp + 32;
    if (cp >= 0x100 && cp <= 0x137 && !(cp & 1))
        return cp + 1;
    if (cp >= 0x139 && cp <= 0x148 && (cp & 1))
        return cp + 1;
    if (cp >= 0x14A && cp <= 0x177 && !(cp & 1))
        return cp + 1;
    if (cp == 0x178)
        return 0xFF;
    if (cp == 0x179 || cp == 0x17B || cp == 0x17D)
        return cp + 1;
    return cp;
}

/* Diacritic-free base of a lower-case letter; the letter itself otherwise. */
static unsigned fold_mark(unsigned cp)
{
    static const char extA[] = /* U+0100..U+017F */
        "aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiiiiijjkkklllllll"
        "lllnnnnnnnnnoooooooorrrrrrssssssssttttttuuuuuuuuuuuuwwyyyzzzzzzs";
    if (cp >= 0xC0 && cp <= 0xFF) {
        char b = latin1_base[cp - 0xC0];
        return b ? (unsigned char)b : cp;
    }
    if (cp >= 0x100 && cp <= 0x17F)
        return (unsigned char)extA[cp - 0x100];
    return cp;
}

/* An ASCII byte lower-cased when it is a letter or a digit, else 0. */
static const char ascii_fold[128] =
    "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
    "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0" "0123456789\0\0\0\0\0\0"
    "\0abcdefghijklmnopqrstuvwxyz\0\0\0\0\0"
    "\0abcdefghijklmnopqrstuvwxyz\0\0\0\0";

/* Whether non-ASCII cp is a letter (ASCII: ascii_fold). */
static bool is_letter(unsigned cp)
{
    if (cp == 0xD7 || cp == 0xF7 || cp == 0xFFFD)
        return false;
    if (cp >= 0xC0 && cp <= 0x24F)
        return true;
    /* Other scripts: letters beyond Latin; general punctuation and symbols
     * blocks (U+2000..U+2BFF) and emoji planes count as punctuation. */
    if (cp >= 0x2000 && cp <= 0x2BFF)
        return false;
    if (cp >= 0x1F000)
        return false;
    return cp >= 0x370;
}

/* cp lower-cased (and without its mark in TEXT_FOLD) when it is a letter
 * or a digit, else 0; ASCII from a table, the common case. */
static unsigned fold(unsigned cp, enum text_form form)
{
    if (cp < 0x80)
        return (unsigned char)ascii_fold[cp];
    if (!is_letter(cp))
        return 0;
    cp = fold_case(cp);
    return form == TEXT_FOLD ? fold_mark(cp) : cp;
}

size_t text_normalize(const char *in, size_t len, enum text_form form,
                      char *out, size_t cap)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t o = 0, i = 0;
    unsigned prev = 0, prev2 = 0;
    bool space = true; /* suppress leading space */

    if (cap == 0)
        return 0;
    while (i < len) {
        unsigned cp = s[i];
        if (cp < 0x80)
            i++;                /* ASCII: the common case, decoded inline */
        else
            i += text_decode(s + i, len - i, &cp);
        cp = fold(cp, form);
        if (!cp) {              /* not a letter or digit */
            if (!space && o + 1 < cap) {
                out[o++] = ' ';
                space = true;
            }
            prev = prev2 = 0;
            continue;
        }
        if (cp == prev && cp == prev2 && !(cp >= '0' && cp <= '9'))
            continue; /* "heeeelp" -> "heelp" */
        if (cp < 0x80) {
            if (o + 2 > cap)
                break;
            out[o++] = (char)cp;
        } else {
            char enc[4];
            size_t n = text_encode(cp, enc);
            if (o + n + 1 > cap)
                break;
            memcpy(out + o, enc, n);
            o += n;
        }
        prev2 = prev;
        prev = cp;
        space = false;
    }
    if (o > 0 && out[o - 1] == ' ')
        o--;
    out[o] = '\0';
    return o;
}

char *text_sanitize(const char *in, size_t len)
{
    const unsigned char *s = (const unsigned char *)in;
    char *out = malloc(len * 3 + 1); /* each bad byte grows to 3 */
    size_t o = 0;

    if (!out)
        return NULL;
    for (size_t i = 0; i < len;) {
        unsigned cp;
        size_t n = text_decode(s + i, len - i, &cp);
        if (cp == 0)
            cp = 0xFFFD;
        if (cp == 0xFFFD || n == 1) {
            o += text_encode(cp, out + o);
        } else {
            memcpy(out + o, s + i, n);
            o += n;
        }
        i += n;
    }
    out[o] = '\0';
    return out;
}

bool text_utf8_valid(const char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        unsigned cp;
        size_t n = text_decode((const unsigned char *)s + i, len - i, &cp);
        if (cp == 0 || (cp == 0xFFFD && n == 1))
            return false;
        i += n;
    }
    return true;
}

static bool has_alnum(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80 || (s[i] >= '0' && s[i] <= '9') ||
            ((s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'z'))
            return true;
    return false;
}

static bool sentence_end(const char *s, size_t len, size_t i)
{
    if (s[i] == '\n')
        return true;
    if (s[i] != '.' && s[i] != '!' && s[i] != '?' && s[i] != ';')
        return false;
    return i + 1 == len || s[i + 1] == ' ' || s[i + 1] == '\t' || s[i + 1] == '\n' ||
           s[i + 1] == '\r';
}

size_t text_sentences(const char *s, size_t len, struct text_span *out, size_t max)
{
    size_t n = 0, start = 0;
    if (max == 0)
        return 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && !sentence_end(s, len, i))
            continue;
        size_t end = i < len ? i + 1 : len;
        if (has_alnum(s + start, end - start)) {
            if (n == max) {
                out[n - 1].len = len - out[n - 1].off;
                return n;
            }
            out[n++] = (struct text_span){ start, end - start };
        }
        start = end;
    }
    return n;
}
