/* b64.c -- base64 (see b64.h). */
#include "b64.h"

#include <stdint.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t b64_encoded_size(size_t n, bool pad)
{
    return (pad ? (n + 2) / 3 * 4 : (n * 4 + 2) / 3) + 1;
}

long b64_encode(const void *data, size_t n, bool pad, char *out, size_t cap)
{
    const unsigned char *d = data;
    size_t o = 0;
    if (cap < b64_encoded_size(n, pad))
        return -1;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0) |
                     (i + 2 < n ? d[i + 2] : 0);
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        if (i + 1 < n || pad)
            out[o++] = i + 1 < n ? alphabet[v >> 6 & 63] : '=';
        if (i + 2 < n || pad)
            out[o++] = i + 2 < n ? alphabet[v & 63] : '=';
    }
    out[o] = '\0';
    return (long)o;
}

static int value(unsigned char c, enum b64_mode mode)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    if (mode == B64_LENIENT && c == '+') return 62;
    if (mode == B64_LENIENT && c == '/') return 63;
    return -1;
}

long b64_decode(const char *s, size_t n, enum b64_mode mode, unsigned char *out, size_t cap)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    if (mode == B64_URL_STRICT && n % 4 == 1)
        return -1;
    for (size_t i = 0; i < n && !(mode == B64_LENIENT && s[i] == '='); i++) {
        int v = value((unsigned char)s[i], mode);
        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o + 1 >= cap)
                return -1;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (mode == B64_URL_STRICT && acc) /* leftover bits must be zero */
        return -1;
    if (o >= cap)
        return -1;
    out[o] = '\0';
    return (long)o;
}
