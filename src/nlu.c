/* nlu.c -- feature extraction, training and classification (see nlu.h).
 *
 * Features are 64-bit FNV-1a hashes of n-grams, mapped to dense indexes by an
 * open-addressing table filled at training time; a feature never seen in
 * training has no weight and is skipped. The table is kept at most 2/3 full
 * (fewer cache lines than half full, probes still short). Training works on
 * float arrays (slots of hash, index and language weight; idf; weights
 * feature-major). The trained model keeps what a message reads in as few
 * cache lines as it can, since a message's ~250 lookups reach all over it:
 * 8-byte slots (struct mslot) and one 64-byte row a feature (struct row:
 * language weight, idf, and the intents' weights as 16-bit integers times a
 * scale). Lookups are prefetched ahead in one loop; the language pass's
 * lookups of the character n-grams serve the intent pass when the lexicon
 * leaves the message as it is. A message's features are merged in a table
 * of one entry a feature (no probes), the stems of recent words are kept
 * per language, and gate.h spares most pattern runs.
 */
#include "nlu.h"
#include "gate.h"
#include "lexicon.h"
#include "text.h"

#include <libstemmer.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NORM_NONE SIZE_MAX    /* m->norm holds no message's whole form */
#define FEAT_MAX 1024        /* features kept per message */
#define LANES 8              /* floats the scorer handles in one block */
#define FIXED_LANES 24       /* up to this many intents, scored in registers */
#define EPOCHS 14
#define LEARNED 0.05f        /* an example this close to its label is skipped */
#define RULE_BOOST 4.0f      /* logit given to out_of_scope when nothing is known */
#define LANG_MARGIN 4.0      /* log-likelihood ratio needed to be sure */
#define LANG_SWITCH 15.0     /* ... to leave the conversation's language */
#define CLOSE_TOP 0.6        /* a best guess under this ... */
#define CLOSE_MARGIN 0.05    /* ... this near the second is no answer */
#define SENT_MAX 8           /* sentences of a long message looked at one by one */
#define STEM_MAX 64          /* longer words are not stemmed */

struct feat {
    uint32_t id;
    float v;
};

/* A slot of the training's feature table: empty when key is 0. */
struct slot {
    uint64_t key;            /* feature hash */
    uint32_t id;             /* feature index, < nfeat */
    float lang;              /* log P(f | sv) - log P(f | en) */
};

/* A row of the trained model: what scoring reads of one feature, in
 * m->stride bytes (a multiple of ROW_ALIGN: whole cache lines; one for up
 * to 28 intents). The weights are kept as 16-bit integers times the row's
 * scale: the error of a weight is at most 1/65534 of the row's largest,
 * far under what tells two intents apart, and a row is half as big. */
struct row {
    float lang;              /* log P(f | sv) - log P(f | en) */
    float idf;
    float scale;             /* weight c = q[c] * scale */
    int16_t q[];             /* QW (the padding is 0) */
};

/* A slot of the model's feature table, which is sparser than the
 * training's (IDX_SPARSE: shorter probes, most of all for the n-grams
 * training never saw, which end at an empty slot). A slot is taken for
 * another feature only when the top 32 bits of the two hashes are equal and
 * the probe from the bottom bits reaches it: about as likely as two
 * features with one 64-bit hash, which the model takes for one anyway. */
struct mslot {
    uint32_t check;          /* the hash's top 32 bits */
    uint32_t row1;           /* its row + 1; 0: an empty slot */
};
#define ROW_ALIGN 64

#define IDX_SPARSE 3          /* the model's table: at most 1/3 full */
#define PREFETCH_AHEAD 16     /* table lookups asked for ahead of use */
#define STEM_CACHE 1024      /* cached stems per language (direct-mapped) */
#define STEM_CACHED 24       /* longer words are stemmed every time */

/* A cached stem: word w[0..wlen) stems to s[0..slen); wlen 0: empty. */
struct stem_entry {
    uint8_t wlen, slen;
    char w[STEM_CACHED], s[STEM_CACHED];
};

struct nlu {
    const pack *pack;
    size_t C;                /* classes = intents */
    size_t CP;               /* C rounded up to LANES: the row stride of w */
    size_t QW;               /* weights in a row: FIXED_LANES, or C rounded up
                                to 4 when more */
    struct slot *tab;        /* the feature table, cap slots (training) */
    struct mslot *idx;       /* the model's, cap slots */
    size_t cap;              /* table slots, power of two */
    size_t nfeat;            /* features known */
    float *idf;              /* per feature (training) */
    float *w;                /* nfeat * CP weights, padding 0 (training) */
    unsigned char *rows;     /* nfeat rows of stride bytes (struct row) */
    size_t stride;
    float *b;                /* CP biases */
    float *lang_ll;          /* nfeat * 2: log P(feature | en, sv), training only */
    float lang_unk[2];       /* log P(unseen feature | lang) */
    int oos;                 /* index of out_of_scope */
    struct seen {            /* the merge table, one entry a feature: */
        uint32_t stamp;          /* valid when equal to stamp ... */
        uint32_t pos;            /* ... its place in the message's features */
    } *seen;                 /* nfeat + 1 entries, owned */
    uint32_t stamp;          /* current message's stamp */
    struct stem_entry (*stems)[STEM_CACHE]; /* PACK_NLANG caches, owned */
    pcre2_match_data *md;    /* for the pack's patterns, owned */
    gate *gate;              /* the patterns' literals, owned */
    int *gbase;              /* C: the gate's number of intent c's first pattern */
    bool from_cache;         /* loaded by nlu_open(), not trained */
    bool avx2;               /* the processor has AVX2 (scores_avx2()) */
    const lex *lex;          /* the pack's objects, borrowed (may be NULL) */
    struct sb_stemmer *stem[PACK_NLANG]; /* Snowball, English and Swedish, owned */
    /* scratch for one classification */
    char norm[NLU_INPUT_MAX + 8];
    char rew[NLU_INPUT_MAX + 8];  /* norm with concept tokens (lexicon.h) */
    float *zs;               /* CP: one sentence's probabilities */
    float *zbest;            /* CP: the request sentence's */
    uint64_t hashes[FEAT_MAX];
    uint32_t r1[FEAT_MAX];   /* lookups(): their rows + 1 */
    size_t lang_ncg;         /* the language pass's character n-grams (first
                                in hashes and r1) */
    struct feat feats[FEAT_MAX];
    float *logits;           /* CP */
};

#define FNV_PRIME 0x100000001b3ULL

static uint64_t fnv(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= FNV_PRIME;
    }
    return h ? h : 1;
}

/* fnv()'s result for a raw running hash h (0 is never a key). */
static inline uint64_t fnv_key(uint64_t h)
{
    return h ? h : 1;
}

/* Word s[0..n) as the model sees it: its Snowball stem in language lang (-1:
 * none), concept tokens and words with digits as they are. Returns the
 * length of *w, which points into s or buf. */
static size_t stem_word(nlu *m, int lang, const char *s, size_t n, const char **w)
{
    *w = s;
    if (lang < 0 || !m->stem[lang] || n < 3 || n > STEM_MAX || s[0] == '#')
        return n;
    for (size_t i = 0; i < n; i++)
        if (s[i] >= '0' && s[i] <= '9')
            return n;
    struct stem_entry *e = NULL;
    if (n <= STEM_CACHED) {
        e = &m->stems[lang][fnv(0, s, n) & (STEM_CACHE - 1)];
        if (e->wlen == n && !memcmp(e->w, s, n)) {
            *w = e->s;
            return e->slen;
        }
    }
    const sb_symbol *st = sb_stemmer_stem(m->stem[lang], (const sb_symbol *)s, (int)n);
    if (!st)
        return n;
    size_t sl = (size_t)sb_stemmer_length(m->stem[lang]);
    *w = (const char *)st;
    if (e && sl <= STEM_CACHED) {
        e->wlen = (uint8_t)n;
        e->slen = (uint8_t)sl;
        memcpy(e->w, s, n);
        memcpy(e->s, st, sl);
        *w = e->s;
    }
    return sl;
}

/* The hashes of the character 3-grams of buf[0..blen), then of its 4-grams,
 * then 5-grams, at most max in all; returns how many. A 4- and a 5-gram
 * extend the running hash of the 3-gram at the same place, so each byte is
 * hashed once per n-gram length it starts, not once per byte of the gram. */
static size_t char_grams(const char *buf, size_t blen, uint64_t *out, size_t max)
{
    const uint64_t c0 = fnv(0xcbf29ce484222325ULL, "c", 1);
    size_t cnt[3];
    for (size_t k = 0, left = max; k < 3; k++) {
        size_t all = blen >= k + 3 ? blen - (k + 2) : 0;
        cnt[k] = all < left ? all : left;
        left -= cnt[k];
    }
    uint64_t *o4 = out + cnt[0], *o5 = o4 + cnt[1];
    for (size_t i = 0; i < cnt[0]; i++) {
        const unsigned char *b = (const unsigned char *)buf + i;
        uint64_t h = ((((c0 ^ b[0]) * FNV_PRIME) ^ b[1]) * FNV_PRIME ^ b[2]) * FNV_PRIME;
        out[i] = fnv_key(h);
        if (i >= cnt[1])
            continue;
        h = (h ^ b[3]) * FNV_PRIME;
        o4[i] = fnv_key(h);
        if (i < cnt[2])
            o5[i] = fnv_key((h ^ b[4]) * FNV_PRIME);
    }
    return cnt[0] + cnt[1] + cnt[2];
}

/* After the n hashes in out, those of the word uni- and bigrams of the
 * stems of TEXT_FOLD string s[0..len), at most max in all; returns how many
 * in all. A word's unigram, the bigram it ends and the start of the one it
 * begins are hashed in one pass over it: the values of fnv("w" word),
 * fnv("b" previous " " word) as nested fnv() calls give them. */
static size_t word_grams(nlu *m, int lang, const char *s, size_t len, uint64_t *out,
                         size_t n, size_t max)
{
    const uint64_t basis = 0xcbf29ce484222325ULL;
    const uint64_t hw0 = fnv(basis, "w", 1), hb0 = fnv(basis, "b", 1);
    uint64_t hbs = 0;        /* fnv(fnv(hb0, previous word), " ") */
    bool prev = false;

    for (size_t i = 0; i < len && n + 2 <= max;) {
        size_t j = i;
        while (j < len && s[j] != ' ')
            j++;
        const char *w;
        size_t wl = stem_word(m, lang, s + i, j - i, &w);
        if (wl > STEM_MAX)
            wl = STEM_MAX;
        uint64_t hw = hw0, hb = hb0, hg = hbs;
        for (size_t k = 0; k < wl; k++) {
            uint64_t c = (unsigned char)w[k];
            hw = (hw ^ c) * FNV_PRIME;
            hb = (hb ^ c) * FNV_PRIME;
            hg = (hg ^ c) * FNV_PRIME;
        }
        out[n++] = fnv_key(hw);
        if (prev)
            out[n++] = fnv_key(hg);
        hbs = fnv(fnv_key(hb), " ", 1);
        prev = true;
        i = j + 1;
    }
    return n;
}

/* Hashes of the n-grams of a rewritten TEXT_FOLD string: character 3-5-grams
 * of the text (the first *ncg, when ncg is not NULL), then word_grams();
 * returns how many. */
static size_t extract(nlu *m, int lang, const char *s, size_t len, uint64_t *out,
                      size_t max, size_t *ncg)
{
    char buf[NLU_INPUT_MAX + 8];
    buf[0] = ' ';
    memcpy(buf + 1, s, len);
    buf[len + 1] = ' ';
    size_t n = char_grams(buf, len + 2, out, max);
    if (ncg)
        *ncg = n;
    return word_grams(m, lang, s, len, out, n, max);
}

static size_t slot_of(uint64_t h, size_t cap)
{
    return (size_t)(h ^ (h >> 29)) & (cap - 1);
}

/* The training table's slot of feature h, or NULL when not there. */
static const struct slot *table_find(const nlu *m, uint64_t h)
{
    size_t i = slot_of(h, m->cap);
    while (m->tab[i].key) {
        if (m->tab[i].key == h)
            return &m->tab[i];
        i = (i + 1) & (m->cap - 1);
    }
    return NULL;
}

static inline const struct row *row_at(const nlu *m, size_t i)
{
    return (const struct row *)(m->rows + i * m->stride);
}

/* The row of feature h + 1, or 0 when training never saw it. */
static uint32_t row_find(const nlu *m, uint64_t h)
{
    const uint32_t check = (uint32_t)(h >> 32);
    for (size_t i = slot_of(h, m->cap); m->idx[i].row1; i = (i + 1) & (m->cap - 1))
        if (m->idx[i].check == check)
            return m->idx[i].row1;
    return 0;
}

/* row_find() of h[0..n) into r1[0..n), the slots asked for PREFETCH_AHEAD
 * lookups ahead so that the cache misses overlap instead of following one
 * another, and the rows found asked for ahead of their use. */
static void lookups(nlu *m, const uint64_t *h, size_t n, uint32_t *r1)
{
    for (size_t i = 0; i < n && i < PREFETCH_AHEAD; i++)
        __builtin_prefetch(&m->idx[slot_of(h[i], m->cap)]);
    for (size_t i = 0; i < n; i++) {
        if (i + PREFETCH_AHEAD < n)
            __builtin_prefetch(&m->idx[slot_of(h[i + PREFETCH_AHEAD], m->cap)]);
        if ((r1[i] = row_find(m, h[i])))
            __builtin_prefetch(row_at(m, r1[i] - 1));
    }
}

/* Moves the table to ncap slots (a power of two > nfeat); false when out
 * of memory (the table is unchanged). */
static bool table_resize(nlu *m, size_t ncap)
{
    struct slot *t = calloc(ncap, sizeof *t);
    if (!t)
        return false;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->tab[i].key)
            continue;
        size_t j = slot_of(m->tab[i].key, ncap);
        while (t[j].key)
            j = (j + 1) & (ncap - 1);
        t[j] = m->tab[i];
    }
    free(m->tab);
    m->tab = t;
    m->cap = ncap;
    return true;
}

static uint32_t table_add(nlu *m, uint64_t h)
{
    size_t i = slot_of(h, m->cap);
    while (m->tab[i].key) {
        if (m->tab[i].key == h)
            return m->tab[i].id;
        i = (i + 1) & (m->cap - 1);
    }
    m->tab[i] = (struct slot){ h, (uint32_t)m->nfeat, 0 };
    return (uint32_t)m->nfeat++;
}

/* The merge table, one entry a feature known (false when out of memory):
 * no probes, whose ends the branch predictor cannot guess, where a small
 * hashed table had them; most of a message's features are new to it. */
static bool seen_alloc(nlu *m)
{
    free(m->seen);
    m->seen = calloc(m->nfeat + 1, sizeof *m->seen);
    m->stamp = 0;
    return m->seen != NULL;
}

/* A new list of features: forgets the merge table. */
static void merge_reset(nlu *m)
{
    if (++m->stamp == 0) { /* wrapped: forget every stamp */
        memset(m->seen, 0, (m->nfeat + 1) * sizeof *m->seen);
        m->stamp = 1;
    }
}

/* Counts feature id (< nfeat) once more in out[0..*n) (the order does not
 * matter to the scorer). */
static void merge(nlu *m, uint32_t id, struct feat *out, size_t *n)
{
    struct seen *e = &m->seen[id];
    if (e->stamp == m->stamp) {
        out[e->pos].v += 1.0f;
    } else {
        *e = (struct seen){ m->stamp, (uint32_t)*n };
        out[(*n)++] = (struct feat){ id, 1.0f };
    }
}

/* Known features of a training example with their counts (ids: features). */
static size_t train_feats(nlu *m, const uint64_t *h, size_t nh, struct feat *out)
{
    size_t n = 0;
    merge_reset(m);
    for (size_t i = 0; i < nh; i++) {
        const struct slot *sl = table_find(m, h[i]);
        if (sl)
            merge(m, sl->id, out, &n);
    }
    return n;
}

/* Known features of a message with their counts (ids: rows); m->r1[0..known)
 * holds the lookups of h[0..known) already. */
static size_t to_feats(nlu *m, const uint64_t *h, size_t nh, size_t known, struct feat *out)
{
    size_t n = 0;
    merge_reset(m);
    lookups(m, h + known, nh - known, m->r1 + known);
    for (size_t i = 0; i < nh; i++)
        if (m->r1[i])
            merge(m, m->r1[i] - 1, out, &n);
    return n;
}

/* L2-normalises f[0..n) in place, whose v are TF-IDF weights; sum: the
 * squares' sum. */
static void normalise(struct feat *f, size_t n, double sum)
{
    double norm = sum > 0 ? 1.0 / sqrt(sum) : 0;
    for (size_t i = 0; i < n; i++)
        f[i].v = (float)(f[i].v * norm);
}

/* TF-IDF weights of a training example, L2-normalised, in place. */
static void train_weigh(const nlu *m, struct feat *f, size_t n)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        f[i].v = (1.0f + logf(f[i].v)) * m->idf[f[i].id];
        sum += (double)f[i].v * f[i].v;
    }
    normalise(f, n, sum);
}

/* train_weigh() from the rows. */
static void weigh(const nlu *m, struct feat *f, size_t n)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        const float idf = row_at(m, f[i].id)->idf;
        f[i].v = f[i].v == 1.0f ? idf : (1.0f + logf(f[i].v)) * idf; /* log 1 = 0 */
        sum += (double)f[i].v * f[i].v;
    }
    normalise(f, n, sum);
}

/* out[0..CP) += v * row[0..CP); LANES-wide blocks so that the compiler
 * vectorises them. */
static inline void axpy(float *restrict out, const float *restrict row, float v, size_t CP)
{
    for (size_t c = 0; c < CP; c += LANES)
        for (size_t k = 0; k < LANES; k++)
            out[c + k] += v * row[c + k];
}

/* out[0..CP) = b + sum of v * w[feature] for a training example. */
static void train_scores(const nlu *m, const struct feat *f, size_t n, float *restrict out)
{
    memcpy(out, m->b, m->CP * sizeof *out);
    for (size_t i = 0; i < n; i++)
        axpy(out, m->w + (size_t)f[i].id * m->CP, f[i].v, m->CP);
}

#if defined(__x86_64__) && defined(__GNUC__)
#define SCORES_AVX2 1
/* Eight floats, eight weights of a row: GCC's vector types. */
typedef float v8f __attribute__((vector_size(32)));
typedef int16_t v8h __attribute__((vector_size(16)));

/* scores() of a model of FIXED_LANES weights a row with AVX2 (where
 * m->avx2): the same sums (the conversions are exact and C11 does not fuse
 * a multiply and an add), a third of the instructions. */
__attribute__((target("avx2")))
static void scores_avx2(const nlu *m, const struct feat *f, size_t n, float *restrict out)
{
    v8f acc[3] = { 0 };
    memcpy(acc, m->b, (m->CP < FIXED_LANES ? m->CP : FIXED_LANES) * sizeof(float));
    v8f a0 = acc[0], a1 = acc[1], a2 = acc[2];
    for (size_t i = 0; i < n; i++) {
        const struct row *r = row_at(m, f[i].id);
        const float v = f[i].v * r->scale;
        v8h q0, q1, q2;
        memcpy(&q0, r->q, sizeof q0);
        memcpy(&q1, r->q + 8, sizeof q1);
        memcpy(&q2, r->q + 16, sizeof q2);
        a0 += v * __builtin_convertvector(q0, v8f);
        a1 += v * __builtin_convertvector(q1, v8f);
        a2 += v * __builtin_convertvector(q2, v8f);
    }
    acc[0] = a0, acc[1] = a1, acc[2] = a2;
    memcpy(out, acc, (m->CP < FIXED_LANES ? m->CP : FIXED_LANES) * sizeof(float));
}
#endif

/* train_scores() from the rows. */
static void scores(const nlu *m, const struct feat *f, size_t n, float *restrict out)
{
    const size_t QW = m->QW;
#ifdef SCORES_AVX2
    if (QW == FIXED_LANES && m->avx2) {
        scores_avx2(m, f, n, out);
        return;
    }
#endif
    if (QW == FIXED_LANES) {    /* a fixed width: the sums stay in registers */
        float acc[FIXED_LANES] = { 0 };
        memcpy(acc, m->b, (m->CP < FIXED_LANES ? m->CP : FIXED_LANES) * sizeof *acc);
        for (size_t i = 0; i < n; i++) {
            const struct row *r = row_at(m, f[i].id);
            const float v = f[i].v * r->scale;
            for (size_t k = 0; k < FIXED_LANES; k++)
                acc[k] += v * (float)r->q[k];
        }
        memcpy(out, acc, (m->CP < FIXED_LANES ? m->CP : FIXED_LANES) * sizeof *acc);
        return;
    }
    memcpy(out, m->b, m->CP * sizeof *out);
    for (size_t i = 0; i < n; i++) {
        const struct row *r = row_at(m, f[i].id);
        const int16_t *restrict q = r->q;
        const float v = f[i].v * r->scale;
        for (size_t c = 0; c < QW; c += 4)
            for (size_t k = 0; k < 4; k++)
                out[c + k] += v * (float)q[c + k];
    }
}

/* text[0..len) in TEXT_FOLD form into m->norm (there already, of length
 * nl, unless nl is NORM_NONE), rewritten with the concept tokens into
 * m->rew; returns the length of m->rew. */
static size_t prepare(nlu *m, const char *text, size_t len, size_t nl, struct lex_found *fd)
{
    if (nl == NORM_NONE)
        nl = text_normalize(text, len, TEXT_FOLD, m->norm, sizeof m->norm);
    return lex_rewrite(m->lex, m->norm, nl, m->rew, sizeof m->rew, LEX_CONTEXT_FOREIGN, fd);
}

struct example {
    size_t off, n;           /* into the feature pool */
    int label;
    int lang;
};

static void softmax(float *z, size_t C, float temp)
{
    float mx = z[0], sum = 0;
    for (size_t c = 1; c < C; c++)
        if (z[c] > mx)
            mx = z[c];
    for (size_t c = 0; c < C; c++) {
        z[c] = expf((z[c] - mx) / temp);
        sum += z[c];
    }
    for (size_t c = 0; c < C; c++)
        z[c] /= sum;
}

/* The pack's patterns into m->gate; false when out of memory. */
static bool gate_patterns(nlu *m)
{
    for (size_t c = 0; c < m->C; c++) {
        const struct pack_rules *r = &pack_intent_at(m->pack, c)->rules;
        for (size_t i = 0; i < r->n; i++) {
            int k = gate_add(m->gate, r->src[i]);
            if (k < 0)
                return false;
            if (i == 0)
                m->gbase[c] = k;
        }
    }
    return true;
}

/* An untrained model for p: its sizes, stemmers and scratch; NULL when out
 * of memory. */
static nlu *model_new(const pack *p)
{
    nlu *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->pack = p;
    m->C = pack_intent_count(p);
    m->CP = (m->C + LANES - 1) / LANES * LANES;
    m->QW = m->C <= FIXED_LANES ? FIXED_LANES : (m->C + 3) / 4 * 4;
    m->stride = (sizeof(struct row) + m->QW * sizeof(int16_t) + ROW_ALIGN - 1) / ROW_ALIGN * ROW_ALIGN;
    m->oos = pack_role(p, PACK_ROLE_FALLBACK);
    m->lex = pack_lexicon(p);
#ifdef SCORES_AVX2   /* PROVBOT_NLU_AVX2=0: the portable loop (tests compare the two) */
    const char *v = getenv("PROVBOT_NLU_AVX2");
    m->avx2 = __builtin_cpu_supports("avx2") && !(v && !strcmp(v, "0"));
#endif
    m->stem[0] = sb_stemmer_new("english", NULL);
    m->stem[1] = sb_stemmer_new("swedish", NULL);
    m->logits = calloc(m->CP, sizeof *m->logits);
    m->zs = calloc(m->CP, sizeof *m->zs);
    m->zbest = calloc(m->CP, sizeof *m->zbest);
    m->stems = calloc(PACK_NLANG, sizeof *m->stems);
    m->md = pcre2_match_data_create(1, NULL);
    m->gate = gate_new(GATE_LAZY);   /* measured (perf, bench_engine): cheaper here than eager */
    m->gbase = calloc(m->C + 1, sizeof *m->gbase);
    if (!m->logits || !m->zs || !m->zbest || !m->stem[0] || !m->stem[1] || !m->stems || !m->md ||
        !m->gate || !m->gbase || !gate_patterns(m)) {
        nlu_free(m);
        return NULL;
    }
    return m;
}

/* The row of the feature of slot sl from the training's arrays. */
static void fill_row(nlu *m, const struct slot *sl)
{
    struct row *r = (struct row *)(m->rows + sl->id * m->stride);
    const float *w = m->w + sl->id * m->CP;
    float mx = 0;
    for (size_t c = 0; c < m->C; c++)
        mx = fmaxf(mx, fabsf(w[c]));
    r->lang = sl->lang;
    r->idf = m->idf[sl->id];
    r->scale = mx / 32767.0f;
    for (size_t c = 0; c < m->C && mx > 0; c++)
        r->q[c] = (int16_t)lrintf(w[c] / r->scale);
}

/* The trained model's table and rows from the training's table, idf and
 * weights, which are freed; false when out of memory. */
static bool build_rows(nlu *m)
{
    size_t cap = m->cap;
    while (cap < IDX_SPARSE * m->nfeat)
        cap *= 2;
    m->rows = aligned_alloc(ROW_ALIGN, m->nfeat * m->stride + ROW_ALIGN);
    m->idx = calloc(cap, sizeof *m->idx);
    if (!m->rows || !m->idx)
        return false;
    memset(m->rows, 0, m->nfeat * m->stride);
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->tab[i].key)
            continue;
        fill_row(m, &m->tab[i]);
        size_t j = slot_of(m->tab[i].key, cap);
        while (m->idx[j].row1)
            j = (j + 1) & (cap - 1);
        m->idx[j] = (struct mslot){ (uint32_t)(m->tab[i].key >> 32), m->tab[i].id + 1 };
    }
    m->cap = cap;
    free(m->tab);
    free(m->idf);
    free(m->w);
    m->tab = NULL;
    m->idf = m->w = NULL;
    return true;
}

/* What training holds between its steps (see nlu_train). */
struct train {
    struct example *ex;      /* every example: its features in pool */
    struct feat *pool;
    uint64_t *hashes;        /* one example's feature hashes, scratch */
    size_t nex, npool, total_h;
};

/* 1. Every example's features: the vocabulary first, then the vectors. */
static bool train_collect(nlu *m, const pack *p, struct train *t)
{
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1 && (!(t->pool = malloc((t->total_h + 1) * sizeof *t->pool)) ||
                          !seen_alloc(m)))
            return false;
        for (size_t c = 0; c < m->C; c++) {
            for (int l = 0; l < PACK_NLANG; l++) {
                const cJSON *s;
                cJSON_ArrayForEach(s, pack_intent_at(p, c)->examples[l]) {
                    size_t len = strlen(s->valuestring);
                    size_t nl = prepare(m, s->valuestring, len < NLU_INPUT_MAX ? len : NLU_INPUT_MAX,
                                        NORM_NONE, NULL);
                    size_t nh = extract(m, l, m->rew, nl, t->hashes, FEAT_MAX, NULL);
                    if (pass == 0) {
                        t->total_h += nh;
                        while (m->nfeat + nh >= m->cap - m->cap / 3) /* <= 2/3 full */
                            if (!table_resize(m, m->cap * 2))
                                return false;
                        for (size_t i = 0; i < nh; i++)
                            table_add(m, t->hashes[i]);
                        continue;
                    }
                    size_t nf = train_feats(m, t->hashes, nh, t->pool + t->npool);
                    t->ex[t->nex++] = (struct example){ t->npool, nf, (int)c, l };
                    t->npool += nf;
                }
            }
        }
    }
    return true;
}

/* 2. IDF and the language model's counts, then each example's weights. */
static bool train_idf(nlu *m, struct train *t)
{
    double lang_count[2] = { 0, 0 };
    uint32_t *df = calloc(m->nfeat, sizeof *df);
    m->idf = malloc(m->nfeat * sizeof *m->idf);
    m->lang_ll = calloc(m->nfeat * 2, sizeof *m->lang_ll);
    if (!df || !m->idf || !m->lang_ll) {
        free(df);
        return false;
    }
    for (size_t e = 0; e < t->nex; e++)
        for (size_t i = 0; i < t->ex[e].n; i++) {
            struct feat *f = &t->pool[t->ex[e].off + i];
            df[f->id]++;
            m->lang_ll[f->id * 2 + (size_t)t->ex[e].lang] += f->v;
            lang_count[t->ex[e].lang] += f->v;
        }
    for (size_t f = 0; f < m->nfeat; f++) {
        m->idf[f] = logf((1.0f + (float)t->nex) / (1.0f + (float)df[f])) + 1.0f;
        for (int l = 0; l < 2; l++)
            m->lang_ll[f * 2 + (size_t)l] = logf((m->lang_ll[f * 2 + (size_t)l] + 0.5f) /
                                                 (float)(lang_count[l] + 0.5 * (double)m->nfeat));
    }
    for (int l = 0; l < 2; l++)
        m->lang_unk[l] = logf(0.5f / (float)(lang_count[l] + 0.5 * (double)m->nfeat));
    for (size_t i = 0; i < m->cap; i++)
        if (m->tab[i].key)
            m->tab[i].lang = m->lang_ll[m->tab[i].id * 2 + 1] - m->lang_ll[m->tab[i].id * 2];
    free(m->lang_ll);
    m->lang_ll = NULL;
    free(df);
    for (size_t e = 0; e < t->nex; e++)
        train_weigh(m, t->pool + t->ex[e].off, t->ex[e].n);
    return true;
}

/* One SGD step on example e (scores in z, scratch). */
static void train_step(nlu *m, const struct train *t, const struct example *e, float lr, float *z)
{
    const struct feat *f = t->pool + e->off;
    train_scores(m, f, e->n, z);
    softmax(z, m->C, 1.0f);
    z[e->label] -= 1.0f;     /* gradient of the log loss */
    float worst = 0;
    for (size_t c = 0; c < m->C; c++)
        worst = fmaxf(worst, fabsf(z[c]));
    if (worst < LEARNED)
        return;              /* already right with a margin: nothing to learn */
    for (size_t c = 0; c < m->C; c++) {
        z[c] *= lr;
        m->b[c] -= 0.1f * z[c];
    }
    for (size_t c = m->C; c < m->CP; c++)
        z[c] = 0; /* the padding learns nothing */
    for (size_t i = 0; i < e->n; i++) {
        float *restrict row = m->w + (size_t)f[i].id * m->CP;
        const float *restrict g = z;
        const float v = f[i].v;
        for (size_t c = 0; c < m->CP; c += LANES)
            for (size_t k = 0; k < LANES; k++)
                row[c + k] -= v * g[c + k];
    }
}

/* 3. Logistic regression by SGD, in a fixed pseudo-random order. */
static bool train_sgd(nlu *m, const struct train *t)
{
    m->w = calloc(m->nfeat * m->CP, sizeof *m->w);
    m->b = calloc(m->CP, sizeof *m->b);
    size_t *order = malloc(t->nex * sizeof *order);
    float *z = calloc(m->CP, sizeof *z);
    bool ok = m->w && m->b && order && z;
    for (size_t i = 0; ok && i < t->nex; i++)
        order[i] = i;
    uint64_t rng = 0x9e3779b97f4a7c15ULL;
    for (int ep = 0; ok && ep < EPOCHS; ep++) {
        float lr = 1.0f / (1.0f + 0.3f * (float)ep);
        for (size_t i = t->nex; i > 1; i--) {
            rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
            size_t j = (size_t)(rng % i), tmp = order[i - 1];
            order[i - 1] = order[j];
            order[j] = tmp;
        }
        for (size_t k = 0; k < t->nex; k++)
            train_step(m, t, &t->ex[order[k]], lr, z);
    }
    free(order);
    free(z);
    return ok;
}

nlu *nlu_train(const pack *p, char *err, size_t errlen)
{
    nlu *m = model_new(p);
    struct train t = { 0 };
    bool ok = false;

    if (m) {
        size_t nstr = 0;
        for (size_t c = 0; c < m->C; c++)
            for (int l = 0; l < PACK_NLANG; l++)
                nstr += (size_t)cJSON_GetArraySize(pack_intent_at(p, c)->examples[l]);
        t.ex = calloc(nstr + 1, sizeof *t.ex);
        t.hashes = malloc(FEAT_MAX * sizeof *t.hashes);
        m->cap = 1 << 14;
        m->tab = calloc(m->cap, sizeof *m->tab);
        ok = t.ex && t.hashes && m->tab && train_collect(m, p, &t) && train_idf(m, &t) &&
             train_sgd(m, &t);
    }
    free(t.ex);
    free(t.pool);
    free(t.hashes);
    if (ok && build_rows(m))
        return m;
    snprintf(err, errlen, "out of memory while training");
    nlu_free(m);
    return NULL;
}

/* Frees the trained arrays (not the stemmers and scratch) and forgets them. */
static void model_arrays_free(nlu *m)
{
    free(m->tab);
    free(m->idf);
    free(m->w);
    free(m->rows);
    free(m->idx);
    free(m->b);
    free(m->lang_ll);
    free(m->seen);
    m->seen = NULL;
    m->tab = NULL;
    m->rows = NULL;
    m->idx = NULL;
    m->idf = m->w = m->b = m->lang_ll = NULL;
    m->cap = m->nfeat = 0;
}

void nlu_free(nlu *m)
{
    if (!m)
        return;
    model_arrays_free(m);
    free(m->logits);
    free(m->zs);
    free(m->zbest);
    free(m->stems);
    pcre2_match_data_free(m->md);
    gate_free(m->gate);
    free(m->gbase);
    for (int l = 0; l < PACK_NLANG; l++)
        if (m->stem[l])
            sb_stemmer_delete(m->stem[l]);
    free(m);
}

size_t nlu_model_bytes(const nlu *m)
{
    return m->cap * sizeof *m->idx + m->nfeat * m->stride + m->CP * sizeof *m->b +
           PACK_NLANG * sizeof *m->stems;
}

/* ---------------------------------------------------------------- cache
 *
 * The file: a header (struct cache_head), then idx[cap] (struct mslot), the
 * rows (nfeat * stride bytes, struct row) and b[CP], in this machine's byte
 * order. The key is a hash of everything training reads, as the model
 * sees it (NLU_MODEL_VERSION, the classes, every example after folding and
 * the lexicon's rewriting, its language), so a change of the pack, of the
 * folding or of the lexicon makes a new key. A file is used only when its
 * header matches, its length is exact, the checksum of its body is right and
 * every table slot points inside the model; otherwise it is retrained.
 */
#define CACHE_MAGIC 0x314c4e5442504eULL    /* "NPBTNL1" */

struct cache_head {
    uint64_t magic, version, key[2];
    uint64_t C, CP, cap, nfeat;
    float lang_unk[2];
    uint64_t sum;            /* of the body */
};

/* A 64-bit hash of n bytes, a word at a time (a checksum, not a MAC). */
static uint64_t sum64(uint64_t h, const void *data, size_t n)
{
    const unsigned char *d = data;
    uint64_t w;
    for (; n >= 8; n -= 8, d += 8) {
        memcpy(&w, d, 8);
        h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
        h ^= h >> 31;
    }
    for (; n; n--, d++)
        h = (h ^ *d) * 0x100000001b3ULL;
    return h;
}

/* The training input's key into key[2]. */
static void cache_key(nlu *m, uint64_t key[2])
{
    uint64_t h0 = NLU_MODEL_VERSION, h1 = ~(uint64_t)NLU_MODEL_VERSION;
    /* the training constants, and below the features of each first example
     * (so a change of extract(), of the stemmers or of hashing shows even
     * when NLU_MODEL_VERSION was not bumped) */
    float learned = LEARNED;
    uint64_t dims[6] = { m->C, m->CP, (uint64_t)(int64_t)m->oos, EPOCHS, FEAT_MAX, 0 };
    memcpy(&dims[5], &learned, sizeof learned);
    h0 = sum64(h0, dims, sizeof dims);
    h1 = fnv(h1, (const char *)dims, sizeof dims);
    for (size_t c = 0; c < m->C; c++) {
        const struct pack_intent *in = pack_intent_at(m->pack, c);
        h0 = sum64(h0, in->id, strlen(in->id) + 1);
        h1 = fnv(h1, in->id, strlen(in->id) + 1);
        for (int l = 0; l < PACK_NLANG; l++) {
            const cJSON *x;
            bool first = true;
            cJSON_ArrayForEach(x, in->examples[l]) {
                size_t len = strlen(x->valuestring);
                size_t nl = prepare(m, x->valuestring, len < NLU_INPUT_MAX ? len : NLU_INPUT_MAX,
                                    NORM_NONE, NULL);
                if (first) {
                    size_t nh = extract(m, l, m->rew, nl, m->hashes, FEAT_MAX, NULL);
                    h0 = sum64(h0, m->hashes, nh * sizeof *m->hashes);
                    first = false;
                }
                m->rew[nl] = (char)('0' + l);   /* the language, and the end */
                h0 = sum64(h0, m->rew, nl + 1);
                h1 = fnv(h1, m->rew, nl + 1);
            }
        }
    }
    key[0] = h0;
    key[1] = h1;
}

struct body_part {
    void *p;
    size_t n;
};

/* The model's arrays as written to the file, in order. */
#define BODY_PARTS 3

static void body_parts(const nlu *m, struct body_part part[BODY_PARTS])
{
    part[0] = (struct body_part){ m->idx, m->cap * sizeof *m->idx };
    part[1] = (struct body_part){ m->rows, m->nfeat * m->stride };
    part[2] = (struct body_part){ m->b, m->CP * sizeof *m->b };
}

/* Writes the trained model to path (through a temporary file and a rename,
 * so a reader never sees half a file). Failure only costs the next start. */
static void cache_write(const nlu *m, const uint64_t key[2], const char *path)
{
    char tmp[4200];
    struct body_part part[BODY_PARTS];
    struct cache_head h = { CACHE_MAGIC, NLU_MODEL_VERSION, { key[0], key[1] },
                            m->C, m->CP, m->cap, m->nfeat,
                            { m->lang_unk[0], m->lang_unk[1] }, 0 };
    body_parts(m, part);
    h.sum = CACHE_MAGIC;
    for (int i = 0; i < BODY_PARTS; i++)
        h.sum = sum64(h.sum, part[i].p, part[i].n);
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    bool ok = f && fwrite(&h, sizeof h, 1, f) == 1;
    for (int i = 0; ok && i < BODY_PARTS; i++)
        ok = fwrite(part[i].p, 1, part[i].n, f) == part[i].n;
    if (f && fclose(f) != 0)
        ok = false;
    if (!ok || rename(tmp, path) != 0)
        remove(tmp);
}

/* The header's sizes are those of m's pack and fit the file's length. */
static bool head_fits(const nlu *m, const struct cache_head *h, const uint64_t key[2], long flen)
{
    if (h->magic != CACHE_MAGIC || h->version != NLU_MODEL_VERSION || h->key[0] != key[0] ||
        h->key[1] != key[1] || h->C != m->C || h->CP != m->CP)
        return false;
    if (h->cap < 2 || h->cap > (1u << 26) || (h->cap & (h->cap - 1)) || h->nfeat >= h->cap)
        return false;
    uint64_t body = h->cap * sizeof(struct mslot) + h->nfeat * m->stride + h->CP * sizeof *m->b;
    return flen >= 0 && (uint64_t)flen == sizeof *h + body;
}

/* Every table slot is empty or names a feature, and one slot at least is
 * empty (so a lookup ends). */
static bool table_sane(const nlu *m)
{
    size_t used = 0;
    for (size_t i = 0; i < m->cap; i++)
        if (m->idx[i].row1) {
            if (m->idx[i].row1 > m->nfeat)
                return false;
            used++;
        }
    return used == m->nfeat && used < m->cap;
}

/* Reads the model of key from path into m (allocating its arrays); false
 * when the file is missing or not exactly right (m then holds no arrays). */
static bool cache_read(nlu *m, const uint64_t key[2], const char *path)
{
    struct cache_head h;
    struct body_part part[BODY_PARTS];
    FILE *f = fopen(path, "rb");
    bool ok = false;
    if (!f)
        return false;
    if (fseek(f, 0, SEEK_END) != 0)
        goto out;
    long flen = ftell(f);
    rewind(f);
    if (fread(&h, sizeof h, 1, f) != 1 || !head_fits(m, &h, key, flen))
        goto out;
    m->cap = (size_t)h.cap;
    m->nfeat = (size_t)h.nfeat;
    m->lang_unk[0] = h.lang_unk[0];
    m->lang_unk[1] = h.lang_unk[1];
    m->idx = malloc(m->cap * sizeof *m->idx);
    m->rows = aligned_alloc(ROW_ALIGN, m->nfeat * m->stride + ROW_ALIGN);
    m->b = malloc(m->CP * sizeof *m->b);
    if (!m->idx || !m->rows || !m->b || !seen_alloc(m))
        goto out;
    body_parts(m, part);
    uint64_t sum = CACHE_MAGIC;
    for (int i = 0; i < BODY_PARTS; i++) {
        if (fread(part[i].p, 1, part[i].n, f) != part[i].n)
            goto out;
        sum = sum64(sum, part[i].p, part[i].n);
    }
    ok = sum == h.sum && table_sane(m);
out:
    fclose(f);
    if (!ok)
        model_arrays_free(m);
    return ok;
}

/* The cache file of cache_dir into path (PATH_MAX). */
static void cache_path(const char *cache_dir, char path[4096])
{
    snprintf(path, 4096, "%s/" NLU_CACHE_FILE, cache_dir);
}

nlu *nlu_cache_load(const pack *p, const char *cache_dir)
{
    char path[4096];
    uint64_t key[2];
    nlu *m = cache_dir ? model_new(p) : NULL;
    if (!m)
        return NULL;
    cache_path(cache_dir, path);
    cache_key(m, key);
    if (!cache_read(m, key, path)) {
        nlu_free(m);
        return NULL;
    }
    m->from_cache = true;
    return m;
}

nlu *nlu_open(const pack *p, const char *cache_dir, char *err, size_t errlen)
{
    char path[4096];
    uint64_t key[2];
    nlu *m = nlu_cache_load(p, cache_dir);
    if (m || !(m = nlu_train(p, err, errlen)))
        return m;
    if (cache_dir) {
        cache_path(cache_dir, path);
        cache_key(m, key);
        cache_write(m, key, path);
    }
    return m;
}

bool nlu_from_cache(const nlu *m) { return m->from_cache; }

/* True when s[0..len) has å, ä or ö in either case (UTF-8 C3 A5, A4, B6,
 * 85, 84, 96): what its TEXT_LOWER form would show as å, ä, ö, since only
 * those six letters lower-case to them and a C3 byte always starts a
 * character. */
static bool has_swedish_letter(const char *s, size_t len)
{
    for (const char *e = s + len; (s = memchr(s, 0xC3, (size_t)(e - s))) && s + 1 < e; s++) {
        unsigned char b = (unsigned char)s[1] & ~0x20u;
        if (b == 0x85 || b == 0x84 || b == 0x96)
            return true;
    }
    return false;
}

/* True when s[0..len) has '@', '/' or a digit. */
static bool has_nonword(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] == '@' || s[i] == '/' || (s[i] >= '0' && s[i] <= '9'))
            return true;
    return false;
}

/* text[0..len) in TEXT_FOLD form into m->norm without its words with
 * '@', '/' or digits; returns the length. *whole: no word was left out, so
 * m->norm is text's TEXT_FOLD form (the words are apart by white space
 * there, which folds to one space as in the copy). */
static size_t lang_text(nlu *m, const char *text, size_t len, bool *whole)
{
    char clean[NLU_INPUT_MAX + 8];
    size_t o = 0;
    if ((*whole = !has_nonword(text, len)))
        return text_normalize(text, len, TEXT_FOLD, m->norm, sizeof m->norm);
    for (size_t i = 0; i < len && o + 1 < sizeof clean;) {
        size_t j = i;
        bool skip = false;
        while (j < len && text[j] != ' ' && text[j] != '\t' && text[j] != '\n') {
            if (text[j] == '@' || text[j] == '/' || (text[j] >= '0' && text[j] <= '9'))
                skip = true;
            j++;
        }
        if (!skip && j > i && o + (j - i) + 2 < sizeof clean) {
            memcpy(clean + o, text + i, j - i);
            o += j - i;
            clean[o++] = ' ';
        }
        i = j + 1;
    }
    return text_normalize(clean, o, TEXT_FOLD, m->norm, sizeof m->norm);
}

/* Language of the message. Emails, links and numbers say nothing about it and
 * are left out. With a conversation language (ctx), a switch needs strong
 * evidence: a short "ok" or "start over" keeps the conversation's language.
 * Returns the length of m->norm when it then holds text's TEXT_FOLD form,
 * else NORM_NONE. */
static size_t detect_lang(nlu *m, const char *text, size_t len, const char *ctx,
                          struct nlu_result *r)
{
    bool whole;
    size_t nl = lang_text(m, text, len, &whole);
    size_t nh = extract(m, -1, m->norm, nl, m->hashes, FEAT_MAX, &m->lang_ncg);
    double llr = 0; /* > 0: Swedish */
    lookups(m, m->hashes, nh, m->r1);
    for (size_t i = 0; i < nh; i++)
        if (m->r1[i])
            llr += row_at(m, m->r1[i] - 1)->lang;
    if (has_swedish_letter(text, len))
        llr += LANG_SWITCH;
    bool sv;
    if (!ctx) {
        sv = llr > 0;
        r->lang_sure = fabs(llr) >= LANG_MARGIN;
    } else {
        bool ctx_sv = strcmp(ctx, "sv") == 0;
        if (ctx_sv ? llr <= -LANG_SWITCH : llr >= LANG_SWITCH) {
            sv = !ctx_sv;
            r->lang_sure = true;
        } else {
            sv = ctx_sv;
            r->lang_sure = (ctx_sv ? llr : -llr) >= LANG_MARGIN;
        }
    }
    memcpy(r->lang, sv ? "sv" : "en", 3);
    return whole ? nl : NORM_NONE;
}

/* pack_rules_match() with the JIT's fast path (no checks of the subject,
 * which text_normalize() made valid UTF-8), the interpreter where a pattern
 * has no JIT code; only the patterns the gate lets through (gate_scan() of
 * s done) are run. g: the gate's number of r's first pattern. */
static bool rules_match(nlu *m, const struct pack_rules *r, int g, const char *s, size_t len)
{
    for (size_t i = 0; i < r->n; i++) {
        if (!gate_may_match(m->gate, g + (int)i))
            continue;
        pack_rule_ready(r, i);
        int rc = pcre2_jit_match(r->re[i], (PCRE2_SPTR)s, len, 0, 0, m->md, NULL);
        if (rc == PCRE2_ERROR_JIT_BADOPTION)
            rc = pcre2_match(r->re[i], (PCRE2_SPTR)s, len, 0, 0, m->md, NULL);
        if (rc >= 0)   /* 0: matched, the groups do not fit the match data */
            return true;
    }
    return false;
}

/* Probabilities of text[0..len) in lang into z (CP floats) (nl: as for
 * prepare()): features, the
 * model, the pack's patterns (matched[c] set for those of intent c when
 * matched is not NULL), calibrated softmax. fd: the objects it names. */
static void probs(nlu *m, const char *text, size_t len, size_t nl, int lang, float *z,
                  bool *matched, bool boost, struct lex_found *fd)
{
    const bool whole = nl != NORM_NONE;   /* the text the language pass read */
    size_t nr = prepare(m, text, len, nl, fd);
    nl = strlen(m->norm);
    /* not rewritten either: its character n-grams are looked up already */
    size_t known = whole && nr == nl && !memcmp(m->rew, m->norm, nl) ? m->lang_ncg : 0;
    /* (their hashes too: only the words' are new, stemmed) */
    size_t nh = known ? word_grams(m, lang, m->rew, nr, m->hashes, known, FEAT_MAX)
                      : extract(m, lang, m->rew, nr, m->hashes, FEAT_MAX, NULL);
    size_t nf = to_feats(m, m->hashes, nh, known, m->feats);
    weigh(m, m->feats, nf);
    scores(m, m->feats, nf, z);
    gate_scan(m->gate, m->norm, nl);
    bool any = false;
    for (size_t c = 0; c < m->C; c++) {
        const struct pack_intent *in = pack_intent_at(m->pack, c);
        bool hit = in->rules.n && rules_match(m, &in->rules, m->gbase[c], m->norm, nl);
        if (hit && boost)
            z[c] += (float)in->boost;
        if (matched && c < 256)
            matched[c] = hit;
        any |= hit;
    }
    if (nf == 0 && !any) /* nothing known: empty, gibberish or another script (a
                            pattern that matched, "PB-000001", is known) */
        z[m->oos] += RULE_BOOST;
    softmax(z, m->C, (float)pack_temperature(m->pack));
}

/* The most probable intent about an object (lexicon.h), or -1. */
static int best_task(const nlu *m, const float *z)
{
    int b = -1;
    for (size_t c = 0; c < m->C; c++)
        if (lex_is_task(m->lex, (int)c) && (b < 0 || z[c] > z[b]))
            b = (int)c;
    return b;
}

/* True when span ends a question (its last character but spaces is '?'). */
static bool is_question(const char *s, size_t len)
{
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\n' ||
                   s[len - 1] == '\r'))
        len--;
    return len && s[len - 1] == '?';
}

/* A long message (n sentences sp): each sentence alone; the request sentence
 * is the surest question about a task, else the surest sentence, and z (the
 * whole message's, context included) becomes the mean of both. The context
 * tells what happened, the question what is wanted. tops/confs get each
 * sentence's best task intent. */
static void by_sentence(nlu *m, const char *text, const struct text_span *sp, size_t n,
                        int lang, float *z, int *tops, float *confs)
{
    float best = -1;
    bool bestq = false;
    const float thr = (float)pack_threshold(m->pack);
    for (size_t i = 0; i < n; i++) {
        probs(m, text + sp[i].off, sp[i].len, NORM_NONE, lang, m->zs, NULL, true, NULL);
        tops[i] = best_task(m, m->zs);
        confs[i] = tops[i] >= 0 ? m->zs[tops[i]] : 0;
        bool q = confs[i] >= thr && is_question(text + sp[i].off, sp[i].len);
        if ((q && !bestq) || (q == bestq && confs[i] > best)) {
            best = confs[i];
            bestq = q;
            memcpy(m->zbest, m->zs, m->CP * sizeof *m->zs);
        }
    }
    if (best >= thr)
        for (size_t c = 0; c < m->C; c++)
            z[c] = 0.5f * (z[c] + m->zbest[c]);
}

/* A long message whose best intent is generic (change the contact) while a
 * sentence is sure of a scenario refining it (the line is Closed, PONR has
 * passed, no access): the scenario's answer is the one that helps, so the
 * two trade places in z. */
static void refine(const nlu *m, float *z, const int *tops, const float *confs, size_t ns)
{
    int g = 0, s = -1;
    for (size_t c = 1; c < m->C; c++)
        if (z[c] > z[g])
            g = (int)c;
    for (size_t i = 0; i < ns; i++)
        if (lex_refines(m->lex, tops[i], g) && confs[i] >= fmax(pack_threshold(m->pack), 0.5) &&
            (s < 0 || confs[i] > confs[s]))
            s = (int)i;
    if (s >= 0) {
        float t = z[g];
        z[g] = z[tops[s]];
        z[tops[s]] = t;
    }
}

/* The best NLU_ALT_MAX + 1 intents of z, best first (of equals, the first
 * intent); returns how many. */
static int rank(const nlu *m, const float *z, int *best)
{
    int nb = 0;
    for (int c = 0; c < (int)m->C; c++) {
        int j = nb < NLU_ALT_MAX + 1 ? nb++ : NLU_ALT_MAX + 1;
        for (; j > 0 && z[c] > z[best[j - 1]]; j--)
            if (j < NLU_ALT_MAX + 1)
                best[j] = best[j - 1];
        if (j < NLU_ALT_MAX + 1)
            best[j] = c;
    }
    return nb;
}

/* True when the best two in-scope intents of the ranking are too close to
 * tell apart and nothing in the message (a domain object) backs either:
 * "did you mean" helps more than a wrong answer. */
static bool too_close(const nlu *m, const float *z, const int *best, int nb,
                      const struct lex_found *fd)
{
    int second = -1;
    for (int k = 1; k < nb && second < 0; k++)
        if (best[k] != m->oos)
            second = best[k];
    return second >= 0 && fd->ndomain == 0 && z[best[0]] < CLOSE_TOP &&
           z[best[0]] - z[second] < CLOSE_MARGIN;
}

/* r->intent from the ranking: out_of_scope under the threshold, when the
 * request is about a foreign object only (fd) or when the best two are too
 * close, else the best. */
static void decide(nlu *m, const float *z, const int *best, int nb,
                   const struct lex_found *fd, struct nlu_result *r)
{
    bool foreign = fd->nforeign > 0 && fd->ndomain == 0 && lex_is_task(m->lex, best[0]);
    if (best[0] != m->oos && (foreign || z[best[0]] < pack_threshold(m->pack) ||
                              too_close(m, z, best, nb, fd))) {
        r->intent = m->oos;
        r->confidence = foreign ? z[best[0]] : 1.0 - z[best[0]];
        r->foreign = foreign ? lex_name(m->lex, fd->foreign) : NULL;
        for (int k = 0; k < nb && r->nalt < NLU_ALT_MAX; k++)
            if (best[k] != m->oos)
                r->alt[r->nalt++] = (struct nlu_guess){ best[k], z[best[k]] };
    } else {
        r->intent = best[0];
        r->confidence = z[best[0]];
        for (int k = 1; k < nb && r->nalt < NLU_ALT_MAX; k++)
            r->alt[r->nalt++] = (struct nlu_guess){ best[k], z[best[k]] };
    }
    if (fd->nforeign > 0 && fd->ndomain == 0)
        r->about = lex_name(m->lex, fd->foreign);
}

void nlu_classify(nlu *m, const char *text, size_t len, const char *ctx_lang,
                  struct nlu_result *r)
{
    float *z = m->logits;
    bool matched[256] = { false };
    struct lex_found fd;
    int tops[SENT_MAX], best[NLU_ALT_MAX + 1];
    float confs[SENT_MAX];

    if (len > NLU_INPUT_MAX)
        len = NLU_INPUT_MAX;
    memset(r, 0, sizeof *r);
    r->intent2 = -1;
    size_t nl = detect_lang(m, text, len, ctx_lang, r);
    int lang = strcmp(r->lang, "sv") == 0;
    /* in a long message the patterns count per sentence (by_sentence()),
     * so that one about the context does not decide the whole */
    struct text_span sp[SENT_MAX];
    size_t ns = text_sentences(text, len, sp, SENT_MAX);
    if (ns < 2)
        ns = 0;
    probs(m, text, len, nl, lang, z, matched, ns == 0, &fd);
    if (ns) {
        by_sentence(m, text, sp, ns, lang, z, tops, confs);
        refine(m, z, tops, confs, ns);
    }
    int nb = rank(m, z, best);
    r->top = (struct nlu_guess){ best[0], z[best[0]] };
    r->rule = best[0] < 256 && matched[best[0]];
    decide(m, z, best, nb, &fd, r);
    /* a second request: another sentence sure of another task */
    for (size_t i = 0; i < ns; i++)
        if (tops[i] >= 0 && tops[i] != r->intent && tops[i] != r->top.intent &&
            confs[i] >= fmax(pack_threshold(m->pack), 0.5) && confs[i] > r->confidence2) {
            r->intent2 = tops[i];
            r->confidence2 = confs[i];
        }
}
