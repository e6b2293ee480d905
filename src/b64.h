/* b64.h -- base64 (RFC 4648), once for the whole program.
 *
 * Encodes with the standard alphabet, padded (attachments for a case
 * server) or not (Webex ids); decodes either alphabet (+/ and -_), strictly
 * when asked (JWT: only base64url, no padding, no stray bits). No I/O, no
 * allocation: the caller gives the room.
 */
#ifndef PROVBOT_B64_H
#define PROVBOT_B64_H

#include <stdbool.h>
#include <stddef.h>

/* Bytes b64_encode writes for n input bytes, NUL included. */
size_t b64_encoded_size(size_t n, bool pad);

/* Encodes data[0..n) into out (cap bytes, NUL-terminated). Returns the
 * length written (without the NUL), or -1 when cap is too small. */
long b64_encode(const void *data, size_t n, bool pad, char *out, size_t cap);

enum b64_mode {
    B64_LENIENT,      /* both alphabets; stops at the first '=' */
    B64_URL_STRICT,   /* only -_ , no '=', a length base64 can have, no stray bits */
};

/* Decodes s[0..n) into out (cap bytes; n*3/4 + 1 is always enough), NUL-
 * terminated. Returns the decoded length, or -1 when s is not base64 in
 * that mode or out is too small. */
long b64_decode(const char *s, size_t n, enum b64_mode mode, unsigned char *out, size_t cap);

#endif
