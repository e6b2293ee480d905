/* nlu.h -- understanding one message: language and intent.
 *
 * nlu_train() builds, from a loaded pack's examples, in a few milliseconds:
 *   - an intent model: multinomial logistic regression over TF-IDF weighted
 *     character 3-5-grams and word uni/bigrams of the TEXT_FOLD form, so typos,
 *     inflections, word order and missing diacritics cost little;
 *   - a language model: naive Bayes over the same features, English/Swedish.
 * Before features are built, the words are stemmed (Snowball, English or
 * Swedish) and the synonyms of intents/objects.json become concept tokens
 * (lexicon.h).
 * nlu_classify() adds the pack's patterns (a matching rule lifts its intent),
 * calibrates the softmax with a temperature, and returns out_of_scope under
 * the pack's threshold, when the request names a foreign object and no
 * domain object, or when the best two intents are too close to tell and no
 * domain object backs either, with the next best alternatives for "did you
 * mean". A message of several sentences is also read sentence by sentence
 * (the pack's patterns count per sentence there, so that one about the
 * context does not decide): the request sentence (the surest question, else
 * the surest sentence) weighs as much as the whole message; a generic
 * request told in a scenario another sentence is sure of (a Closed line,
 * PONR: lex_refines()) becomes that scenario; and another sentence sure of
 * another request is reported as intent2.
 *
 * The model is read-only after training; nlu_classify() uses scratch space in
 * the nlu object and the pack's match data: one thread at a time.
 */
#ifndef PROVBOT_NLU_H
#define PROVBOT_NLU_H

#include "pack.h"

#define NLU_ALT_MAX 3
#define NLU_INPUT_MAX 4096   /* bytes of a message that are classified */

typedef struct nlu nlu;

struct nlu_guess {
    int intent;              /* index into the pack's intents */
    double confidence;       /* calibrated probability, 0..1 */
};

struct nlu_result {
    char lang[3];            /* "en" or "sv" (the context's when unsure) */
    bool lang_sure;          /* the message itself told the language */
    int intent;              /* chosen intent (out_of_scope under threshold) */
    double confidence;       /* its confidence */
    struct nlu_guess top;    /* the model's best before the threshold */
    struct nlu_guess alt[NLU_ALT_MAX]; /* next best, best first */
    int nalt;
    bool rule;               /* a pattern of the top intent matched */
    const cJSON *foreign;    /* out_of_scope because the request is about this
                                foreign object only: its display name
                                {"en","sv"} (borrowed from the pack); else NULL */
    const cJSON *about;      /* the foreign object the message names when it names
                                none of ours (whatever the intent), or NULL */
    int intent2;             /* a second request in a long message, or -1 */
    double confidence2;      /* its confidence (0 when none) */
};

/* Bump when training or the features change in a way the pack does not
 * show (it keys the model cache). */
#define NLU_MODEL_VERSION 4
#define NLU_CACHE_FILE "model.cache"

/* Trains on p's examples. p must outlive the nlu. NULL on failure (err). */
nlu *nlu_train(const pack *p, char *err, size_t errlen);
/* As nlu_train(), through a cache of the trained model in
 * cache_dir/NLU_CACHE_FILE (cache_dir NULL: no cache). The cache is keyed by
 * a hash of the training input as the model sees it and NLU_MODEL_VERSION;
 * it is used only when it matches and checks out (sizes, checksum, every
 * index in bounds), else the model is trained and the cache rewritten. A
 * cache that cannot be read or written only costs the training. The model
 * is the same either way. */
nlu *nlu_open(const pack *p, const char *cache_dir, char *err, size_t errlen);
/* The model of p from the cache in cache_dir, only when it matches and
 * checks out; NULL otherwise (nothing is trained or written). */
nlu *nlu_cache_load(const pack *p, const char *cache_dir);
/* True when n was loaded from the cache (for tests and benches). */
bool nlu_from_cache(const nlu *n);
void nlu_free(nlu *n);

/* Classifies text[0..len) (any bytes). ctx_lang is the conversation's
 * language ("en"/"sv"), kept unless the message clearly is in the other one;
 * NULL when there is none (the message's own best guess is used). */
void nlu_classify(nlu *n, const char *text, size_t len, const char *ctx_lang,
                  struct nlu_result *r);

/* Size of the trained model in bytes (for benchmarks). */
size_t nlu_model_bytes(const nlu *n);

#endif
