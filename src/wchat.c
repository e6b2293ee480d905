/* wchat.c -- web chat frames (see wchat.h). */
#include "wchat.h"
#include "text.h"

#include <cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool wchat_session_valid(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        unsigned char ch = (unsigned char)s[n];
        if (!(isalnum(ch) || ch == '_' || ch == '-') || n >= WCHAT_SESSION_MAX)
            return false;
    }
    return n > 0;
}

static enum wchat_kind bad(struct wchat_frame *f, const char *why)
{
    free(f->text);
    free(f->token);
    f->text = f->token = NULL;
    f->kind = WCHAT_BAD;
    f->error = why;
    return WCHAT_BAD;
}

enum wchat_kind wchat_parse(const char *msg, size_t len, bool binary, struct wchat_frame *f)
{
    cJSON *j = NULL;
    enum wchat_kind k;

    memset(f, 0, sizeof *f);
    if (binary)
        return bad(f, "binary frames are not accepted");
    if (!text_utf8_valid(msg, len))
        return bad(f, "invalid UTF-8");
    j = cJSON_ParseWithLength(msg, len);
    if (!cJSON_IsObject(j)) {
        k = bad(f, j ? "not a JSON object" : "unparsable JSON");
        goto out;
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
    if (cJSON_IsString(id) && !(f->id = strdup(id->valuestring))) {
        k = bad(f, "out of memory");
        goto out;
    }
    if (!cJSON_IsString(type)) {
        k = bad(f, "missing \"type\"");
    } else if (!strcmp(type->valuestring, "hello")) {
        const cJSON *sess = cJSON_GetObjectItemCaseSensitive(j, "session");
        const cJSON *user = cJSON_GetObjectItemCaseSensitive(j, "user");
        const cJSON *token = cJSON_GetObjectItemCaseSensitive(j, "token");
        if (cJSON_IsString(sess) && wchat_session_valid(sess->valuestring))
            snprintf(f->session, sizeof f->session, "%s", sess->valuestring);
        if (cJSON_IsString(user) && strlen(user->valuestring) <= WCHAT_USER_MAX)
            snprintf(f->user, sizeof f->user, "%s", user->valuestring);
        free(f->id); /* a hello has no reply */
        f->id = NULL;
        if (cJSON_IsString(token) && !(f->token = strdup(token->valuestring)))
            k = bad(f, "out of memory");
        else
            k = f->kind = WCHAT_HELLO;
    } else if (!strcmp(type->valuestring, "message")) {
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(j, "text");
        if (id && !cJSON_IsString(id) && !cJSON_IsNull(id))
            k = bad(f, "\"id\" must be a string");
        else if (!cJSON_IsString(text))
            k = bad(f, "missing \"text\"");
        else if (!(f->text = strdup(text->valuestring)))
            k = bad(f, "out of memory");
        else
            k = f->kind = WCHAT_MESSAGE;
    } else {
        k = bad(f, "unknown \"type\"");
    }
out:
    cJSON_Delete(j);
    return k;
}

void wchat_frame_clear(struct wchat_frame *f)
{
    free(f->text);
    free(f->id);
    free(f->token);
    f->text = f->id = f->token = NULL;
}

static char *print(cJSON *o, bool ok)
{
    char *s = ok && o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return s;
}

char *wchat_welcome(const char *session, const cJSON *expects)
{
    cJSON *o = cJSON_CreateObject();
    bool ok = o && cJSON_AddStringToObject(o, "type", "welcome") &&
              cJSON_AddStringToObject(o, "session", session);
    if (ok && expects) {
        cJSON *ex = cJSON_Duplicate(expects, 1);
        ok = ex && cJSON_AddItemToObject(o, "expects", ex);
        if (!ok)
            cJSON_Delete(ex);
    }
    return print(o, ok);
}

char *wchat_error(const char *code, const char *message, const char *reply_to)
{
    cJSON *o = cJSON_CreateObject();
    return print(o, o && cJSON_AddStringToObject(o, "type", "error") &&
                    cJSON_AddStringToObject(o, "code", code) &&
                    cJSON_AddStringToObject(o, "message", message) &&
                    (!reply_to || cJSON_AddStringToObject(o, "reply_to", reply_to)));
}
