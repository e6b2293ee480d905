/* metrics.c -- counters and Prometheus text (see metrics.h). */
#include "metrics.h"
#include "buf.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METRICS_TEXT_MAX (256 * 1024)

static const double lat_bounds[METRICS_N_LAT] = { 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                  0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0 };

static void counter_bump(struct metrics_counter *tab, int *n, int cap, const char *name)
{
    for (int i = 0; i < *n; i++)
        if (!strcmp(tab[i].name, name)) { tab[i].n++; return; }
    if (*n == cap) { tab[cap - 1].n++; return; }   /* full: last row counts the rest */
    snprintf(tab[*n].name, sizeof tab[*n].name, "%s", *n == cap - 1 ? "other" : name);
    tab[(*n)++].n = 1;
}

void metrics_error(struct metrics *m, const char *code)
{
    counter_bump(m->errors, &m->n_errors, 8, code);
}

void metrics_turn(struct metrics *m, const struct engine_result *r, double secs)
{
    counter_bump(m->replies, &m->n_replies, METRICS_MAX_LABELS, r->intent[0] ? r->intent : "none");
    if (r->fallback) m->fallbacks++;
    size_t b = 0;
    while (b < METRICS_N_LAT && secs > lat_bounds[b]) b++;
    m->lat[b]++;
    m->lat_count++;
    m->lat_sum += secs;
    if (r->case_id[0]) {
        const char *status = "queued";
        cJSON *j = cJSON_Parse(r->json);
        const cJSON *cs = cJSON_GetObjectItemCaseSensitive(j, "case");
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(cs, "status");
        if (cJSON_IsString(st) && st->valuestring[0]) status = st->valuestring;
        counter_bump(m->cases, &m->n_cases, 8, status);
        cJSON_Delete(j);
    }
}

/* A Prometheus label value: backslash, quote and newline escaped. */
static const char *prom_label(const char *in, char *out, size_t outlen)
{
    size_t o = 0;
    for (; *in && o + 3 < outlen; in++) {
        if (*in == '\\' || *in == '"') { out[o++] = '\\'; out[o++] = *in; }
        else if (*in == '\n') { out[o++] = '\\'; out[o++] = 'n'; }
        else out[o++] = *in;
    }
    out[o] = 0;
    return out;
}

/* One labelled counter family: HELP, TYPE, then a line per label value. */
static void labelled(struct buf *b, const char *name, const char *help, const char *label,
                     const struct metrics_counter *tab, int n)
{
    char l[96];
    buf_printf(b, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
    for (int i = 0; i < n; i++)
        buf_printf(b, "%s{%s=\"%s\"} %llu\n", name, label, prom_label(tab[i].name, l, sizeof l),
                   (unsigned long long)tab[i].n);
}

/* Counters of the channels (e.g. Webex's shed activities): name and help
 * static strings, loop thread only. */
static struct { const char *name, *help; uint64_t n; } extra[METRICS_EXTRA_MAX];
static int n_extra;

void metrics_extra_add(const char *name, const char *help, uint64_t delta)
{
    for (int i = 0; i < n_extra; i++)
        if (!strcmp(extra[i].name, name)) {
            extra[i].n += delta;
            return;
        }
    if (n_extra < METRICS_EXTRA_MAX) {
        extra[n_extra].name = name;
        extra[n_extra].help = help;
        extra[n_extra++].n = delta;
    }
}

static void extra_text(struct buf *b)
{
    for (int i = 0; i < n_extra; i++)
        buf_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", extra[i].name, extra[i].help,
                   extra[i].name, extra[i].name, (unsigned long long)extra[i].n);
}

static void bounds_text(struct buf *b, const struct metrics_bound *bd, int n)
{
    buf_printf(b, "# HELP provbot_bound_use How much of each bound is in use.\n"
                  "# TYPE provbot_bound_use gauge\n");
    for (int i = 0; i < n; i++)
        if (bd[i].use >= 0)
            buf_printf(b, "provbot_bound_use{bound=\"%s\"} %.17g\n", bd[i].name, bd[i].use);
    buf_printf(b, "# HELP provbot_bound_limit Each bound (a rate: per second).\n"
                  "# TYPE provbot_bound_limit gauge\n");
    for (int i = 0; i < n; i++)
        buf_printf(b, "provbot_bound_limit{bound=\"%s\"} %.17g\n", bd[i].name, bd[i].limit);
    buf_printf(b, "# HELP provbot_bound_shed_total What each bound refused or closed.\n"
                  "# TYPE provbot_bound_shed_total counter\n");
    for (int i = 0; i < n; i++)
        buf_printf(b, "provbot_bound_shed_total{bound=\"%s\"} %llu\n", bd[i].name,
                   (unsigned long long)bd[i].shed);
}

char *metrics_text(const struct metrics *m, int open_conns, const struct metrics_bound *bounds,
                   int n_bounds)
{
    struct buf b;

    buf_init(&b, METRICS_TEXT_MAX);

    buf_printf(&b, "# HELP provbot_messages_total Chat messages handed to the engine.\n"
                  "# TYPE provbot_messages_total counter\nprovbot_messages_total %llu\n",
              (unsigned long long)m->messages);
    labelled(&b, "provbot_replies_total", "Replies sent, by intent.", "intent", m->replies, m->n_replies);
    buf_printf(&b, "# HELP provbot_fallbacks_total Replies where the bot did not understand.\n"
                  "# TYPE provbot_fallbacks_total counter\nprovbot_fallbacks_total %llu\n",
              (unsigned long long)m->fallbacks);
    labelled(&b, "provbot_cases_total", "Cases filed or queued from the web chat, by status.", "status",
             m->cases, m->n_cases);
    labelled(&b, "provbot_errors_total", "Error frames sent, by code.", "code", m->errors, m->n_errors);
    buf_printf(&b, "# HELP provbot_connections_open Open chat WebSockets.\n"
                  "# TYPE provbot_connections_open gauge\nprovbot_connections_open %d\n"
                  "# HELP provbot_connections_total Chat WebSockets opened.\n"
                  "# TYPE provbot_connections_total counter\nprovbot_connections_total %llu\n"
                  "# HELP provbot_connections_refused_total Chat WebSockets refused (full or stopping).\n"
                  "# TYPE provbot_connections_refused_total counter\n"
                  "provbot_connections_refused_total %llu\n"
                  "# HELP provbot_origin_rejected_total Chat WebSockets refused by the Origin check.\n"
                  "# TYPE provbot_origin_rejected_total counter\nprovbot_origin_rejected_total %llu\n"
                  "# HELP provbot_uploads_total Screenshots attached.\n"
                  "# TYPE provbot_uploads_total counter\nprovbot_uploads_total %llu\n",
              open_conns, (unsigned long long)m->conns_total, (unsigned long long)m->refused,
              (unsigned long long)m->origin_rejected, (unsigned long long)m->uploads);
    bounds_text(&b, bounds, n_bounds);
    buf_printf(&b, "# HELP provbot_reply_latency_seconds Time from a message to its reply.\n"
                  "# TYPE provbot_reply_latency_seconds histogram\n");
    uint64_t cum = 0;
    for (size_t i = 0; i < METRICS_N_LAT; i++) {
        cum += m->lat[i];
        buf_printf(&b, "provbot_reply_latency_seconds_bucket{le=\"%g\"} %llu\n", lat_bounds[i],
                  (unsigned long long)cum);
    }
    buf_printf(&b, "provbot_reply_latency_seconds_bucket{le=\"+Inf\"} %llu\n"
                  "provbot_reply_latency_seconds_sum %.9f\n"
                  "provbot_reply_latency_seconds_count %llu\n",
              (unsigned long long)m->lat_count, m->lat_sum, (unsigned long long)m->lat_count);
    extra_text(&b);
    return buf_take(&b);
}
