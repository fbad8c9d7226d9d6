/*
 * Multi-index hashing (Norouzi, Punjani, Fleet: "Fast Search in Hamming Space with Multi-Index Hashing")
 * for hashwatch's known-hash index: every code within a Hamming radius of a query, with its distance.
 *
 * The Python side (hamming_search.py) owns the layout and the file; _mih_build.c has the counting-sort build
 * (build_chunk) and the brute-force scan, this file the search:
 *
 *   search(codes, words, n, chunk_off, chunk_len, chunk_radius, table_off, off_all, id_base, ids_all, id_bytes,
 *          masks_all, mask_start, inline_all, inline_base, inline_word0, inline_words, queries, radius)
 *          -> (query_idx, ids, dists) as bytes
 *       For each chunk i, for each query, probe every bucket whose key differs from the query's chunk value by a
 *       mask of popcount <= chunk_radius[i] (masks_all[mask_start[i] : mask_start[i + 1]]; none when the
 *       chunk's radius is -1), verify each candidate's distance and keep those <= radius. A code found by
 *       chunk i is reported only if no earlier chunk j < i would have found it (its chunk-j distance >
 *       chunk_radius[j]), so every match is reported exactly once without a seen-set. Chunk i's bucket b holds
 *       ids ids_all[id_base[i] + off_all[table_off[i] + b] ...], or, when id_base[i] < 0, the positions
 *       themselves (the codes are stored sorted by chunk 0). Ids take id_bytes (3 or 4) bytes, little-endian.
 *       When inline_base[i] >= 0, chunk i also keeps inline_words[i] words of each code from word
 *       inline_word0[i] on (cyclically) in bucket order (inline_all[(inline_base[i] + p) * inline_words[i]]):
 *       all of the code, or a fingerprint checked first (its distance is at most the full one), the id and
 *       code being read only for the rare survivor. A block of queries whose probes are dense is searched by
 *       a sweep (probe pairs counting-sorted by bucket, the table read once in bucket order); otherwise per
 *       query, prefetched ahead, id-reached candidates gathered first. Returns uint32 query indices, uint32
 *       code numbers and uint16 distances, sorted by query. The tables come from a file: a chunk table
 *       outside its buffer, a bucket end past n or an id >= n (a damaged file) raises ValueError instead of
 *       reading out of bounds.
 *
 * Correctness (100 % recall) rests on the pigeonhole bound chosen in Python (plan_radii): if
 * sum(chunk_radius[i] + 1) > r, a code within r of the query is within chunk_radius[i] of it on some chunk i.
 * Tests compare against brute force.
 *
 * Releases the GIL while searching. No image data ever reaches this code: only hash bits.
 */
#include "_mih_common.h"

/* The build and brute force live in _mih_build.c, PDQ's banded filters in _mih_bands.c (same extension). */
PyObject *hw_build_chunk(PyObject *self, PyObject *args);
PyObject *hw_brute_force(PyObject *self, PyObject *args);
/* ------------------------------------------------------------------ search */

typedef struct {
    const uint64_t *codes;
    int words;
    int64_t n;
    int m;
    const int32_t *chunk_off, *chunk_len, *chunk_radius;
    const int64_t *table_off, *id_base, *mask_start, *inline_base;
    const int32_t *inline_word0, *inline_words;
    const uint32_t *off_all, *masks;
    const uint64_t *inl;
    const uint8_t *ids;
    int id_bytes;
    int radius;
} mih_t;

#define PF_FAR 16
#define PF_NEAR 6

/* Full distance of code c to query q, or radius + 1 as soon as the first half of the words is over the radius
   (a random 256-bit candidate is ~64 bits away on its first 128: half the popcounts and loads, no branch per
   word). */
HW_INLINE int full_distance(const uint64_t *c, const uint64_t *q, int W, int radius) {
    const int h = W >> 1;
    int d = 0;
    for (int w = 0; w < h; w++) d += HW_POPCOUNT64(c[w] ^ q[w]);
    if (d > radius) return radius + 1;
    for (int w = h; w < W; w++) d += HW_POPCOUNT64(c[w] ^ q[w]);
    return d;
}

/* One candidate: entry p of chunk i's bucket order, checked against query q (qf: the query's fingerprint words
   for chunk i). Pushes (qi, id, distance) when it is within the radius and no earlier chunk finds it.
   Returns -1 when out of memory. */
HW_INLINE int check_entry(const mih_t *x, int i, const uint64_t *q, const uint64_t *qf, int IW, uint32_t p,
                              uint32_t qi, uint32_t *bad, growbuf *out_q, growbuf *out_id, growbuf *out_d) {
    const int W = x->words;
    const uint32_t n = (uint32_t)x->n;
    const int64_t base = x->id_base[i], ib = x->inline_base[i];
    const uint64_t *c;
    uint32_t id = p;
    int d;
    if (ib >= 0) {
        const uint64_t *f = x->inl + (ib + p) * IW; /* read sequentially through the bucket */
        d = 0;
        for (int w = 0; w < IW; w++) d += HW_POPCOUNT64(f[w] ^ qf[w]);
        if (d > x->radius) return 0; /* a fingerprint's distance is at most the full one */
        if (base >= 0) {
            id = load_id(x->ids, base + p, x->id_bytes);
            *bad |= id >= n;
            id = id < n ? id : 0;
        }
        if (IW == W) {
            c = f;
        } else {
            c = x->codes + (int64_t)id * W;
            d = full_distance(c, q, W, x->radius);
            if (d > x->radius) return 0;
        }
    } else {
        if (base >= 0) {
            id = load_id(x->ids, base + p, x->id_bytes);
            *bad |= id >= n;
            id = id < n ? id : 0;
        }
        c = x->codes + (int64_t)id * W;
        d = full_distance(c, q, W, x->radius);
        if (d > x->radius) return 0;
    }
    /* Report only from the first chunk (in search order) that finds this code. */
    if (i > 0) {
        uint64_t xr[8];
        for (int w = 0; w < W; w++) xr[w] = c[w] ^ q[w];
        for (int j = 0; j < i; j++) {
            int dj = HW_POPCOUNT64((uint64_t)chunk_value(xr, W, x->chunk_off[j], x->chunk_len[j]));
            if (dj <= x->chunk_radius[j]) return 0;
        }
    }
    uint16_t d16 = (uint16_t)d;
    if (gb_push(out_q, &qi, 4) || gb_push(out_id, &id, 4) || gb_push(out_d, &d16, 2)) return -1;
    return 0;
}

HW_INLINE void fingerprint(const mih_t *x, int i, const uint64_t *q, uint64_t *qf) {
    const int IW = x->inline_base[i] >= 0 ? x->inline_words[i] : 0;
    for (int w = 0; w < IW; w++) qf[w] = q[(x->inline_word0[i] + w) % x->words];
}

/* Chunk i for one query when its candidates are reached through ids (no inline copy; 1e8 PDQ codes): first
   every probed bucket's entry positions are gathered (offsets prefetched ahead), then the candidates' codes are
   checked with the code PF_CODES candidates ahead prefetched, across bucket ends: ~30k random 32-byte reads a
   query at 1e8, which only overlap when many are in flight. */
#define PF_CODES 12
HW_CLONES
static int probe_gathered(const mih_t *x, int i, const uint64_t *q, uint32_t qi, uint32_t *bad, uint32_t **buf,
                          size_t *cap, growbuf *out_q, growbuf *out_id, growbuf *out_d) {
    const int W = x->words;
    const uint32_t n = (uint32_t)x->n;
    const uint32_t key = chunk_value(q, W, x->chunk_off[i], x->chunk_len[i]);
    const uint32_t *offs = x->off_all + x->table_off[i];
    const int64_t base = x->id_base[i];
    const int64_t mk0 = x->mask_start[i], mk_end = x->mask_start[i + 1];
    size_t len = 0;
    for (int64_t mk = mk0; mk < mk_end; mk++) {
        if (mk + PF_FAR < mk_end) HW_PREFETCH(offs + (key ^ x->masks[mk + PF_FAR]));
        if (mk + PF_NEAR < mk_end) HW_PREFETCH(x->ids + (base + offs[key ^ x->masks[mk + PF_NEAR]]) * x->id_bytes);
        const uint32_t b = key ^ x->masks[mk];
        uint32_t lo = offs[b], hi = offs[b + 1];
        *bad |= (hi > n) | (lo > hi);
        hi = hi > n ? n : hi;
        lo = lo > hi ? hi : lo;
        if (len + (hi - lo) > *cap) {
            size_t c = *cap ? *cap * 2 : 65536;
            while (c < len + (hi - lo)) c *= 2;
            uint32_t *nb = (uint32_t *)realloc(*buf, c * sizeof(uint32_t));
            if (!nb) return -1;
            *buf = nb;
            *cap = c;
        }
        for (uint32_t p = lo; p < hi; p++) {
            uint32_t id = load_id(x->ids, base + p, x->id_bytes);
            *bad |= id >= n;
            (*buf)[len++] = id < n ? id : 0;
        }
    }
    const uint32_t *ids = *buf;
    for (size_t k = 0; k < len; k++) {
        if (k + PF_CODES < len) HW_PREFETCH(x->codes + (int64_t)ids[k + PF_CODES] * W);
        const uint64_t *c = x->codes + (int64_t)ids[k] * W;
        const int d = full_distance(c, q, W, x->radius);
        if (d > x->radius) continue;
        int earlier = 0;
        uint64_t xr[8];
        for (int w = 0; w < W; w++) xr[w] = c[w] ^ q[w];
        for (int j = 0; j < i && !earlier; j++) {
            int dj = HW_POPCOUNT64((uint64_t)chunk_value(xr, W, x->chunk_off[j], x->chunk_len[j]));
            if (dj <= x->chunk_radius[j]) earlier = 1;
        }
        if (earlier) continue;
        uint16_t d16 = (uint16_t)d;
        uint32_t id = ids[k];
        if (gb_push(out_q, &qi, 4) || gb_push(out_id, &id, 4) || gb_push(out_d, &d16, 2)) return -1;
    }
    return 0;
}

/* Chunk i for one query: its probes in mask order, prefetched ahead (the buckets are random reads). */
HW_CLONES
static int probe_one(const mih_t *x, int i, const uint64_t *q, uint32_t qi, uint32_t *bad, growbuf *out_q,
                     growbuf *out_id, growbuf *out_d) {
    const int W = x->words;
    const uint32_t n = (uint32_t)x->n; /* n < 2^32 (known_hash_index.HammingTable.build) */
    const uint32_t key = chunk_value(q, W, x->chunk_off[i], x->chunk_len[i]);
    const uint32_t *offs = x->off_all + x->table_off[i];
    const int64_t base = x->id_base[i];
    const int64_t ib = x->inline_base[i];
    const int IW = ib >= 0 ? x->inline_words[i] : 0;
    uint64_t qf[8];
    fingerprint(x, i, q, qf);
    const int64_t mk_end = x->mask_start[i + 1];
    for (int64_t mk = x->mask_start[i]; mk < mk_end; mk++) {
        /* Probes hit random buckets of a multi-megabyte table: prefetch the offsets PF_FAR probes ahead
           and, once those are cached, the ids of the bucket PF_NEAR probes ahead. */
        if (mk + PF_FAR < mk_end) HW_PREFETCH(offs + (key ^ x->masks[mk + PF_FAR]));
        if (mk + PF_NEAR < mk_end) {
            const uint32_t bn = key ^ x->masks[mk + PF_NEAR];
            if (ib >= 0) {
                HW_PREFETCH(x->inl + (ib + offs[bn]) * IW);
            } else if (base >= 0) {
                HW_PREFETCH(x->ids + (base + offs[bn]) * x->id_bytes);
            } else {
                HW_PREFETCH(x->codes + (int64_t)offs[bn] * W);
            }
        }
        const uint32_t b = key ^ x->masks[mk];
        uint32_t lo = offs[b], hi = offs[b + 1];
        /* The tables come from a memory-mapped file: a damaged one must not make us read out of bounds.
           Bucket ends and ids are clamped without branching and the query fails at its end: 2-5 % of
           PDQ search time, none measurable for 64-bit codes (docs/benchmarks.md). Early returns here
           cost 9-19 % on 64-bit codes. */
        *bad |= (hi > n) | (lo > hi);
        hi = hi > n ? n : hi;
        lo = lo > hi ? hi : lo;
        for (uint32_t p = lo; p < hi; p++) {
            if (ib < 0 && base >= 0 && p + 4 < hi)
                HW_PREFETCH(x->codes + (int64_t)load_id(x->ids, base + p + 4, x->id_bytes) * W);
            if (check_entry(x, i, q, qf, IW, p, qi, bad, out_q, out_id, out_d)) return -1;
        }
    }
    return 0;
}

/* Chunk i for a block of queries at once: every (bucket, query) probe pair is counting-sorted by bucket and
   the table is swept in bucket order, so offsets and a bucket's entries are read once for all the queries
   that probe it, sequentially, instead of at random per query. Worth it once the pairs are a sizeable share
   of the buckets (search() decides). */
HW_CLONES
static int sweep_block(const mih_t *x, int i, const uint64_t *qs, uint32_t q0, uint32_t nq, uint32_t *bad,
                       growbuf *out_q, growbuf *out_id, growbuf *out_d) {
    const int W = x->words;
    const uint32_t n = (uint32_t)x->n;
    const int len = x->chunk_len[i];
    const size_t nb = (size_t)1 << len;
    const uint32_t *offs = x->off_all + x->table_off[i];
    const int64_t ms = x->mask_start[i], np_ = x->mask_start[i + 1] - ms;
    const int IW = x->inline_base[i] >= 0 ? x->inline_words[i] : 0;
    uint32_t *start = (uint32_t *)calloc(nb + 1, sizeof(uint32_t));
    uint32_t *keys = (uint32_t *)malloc((size_t)nq * sizeof(uint32_t));
    uint32_t *pairs = (uint32_t *)malloc((size_t)nq * (size_t)np_ * sizeof(uint32_t));
    uint64_t *qf = (uint64_t *)malloc((size_t)nq * (IW ? IW : 1) * sizeof(uint64_t));
    int rc = 0;
    if (!start || !keys || !pairs || !qf) {
        rc = -1;
        goto out;
    }
    for (uint32_t k = 0; k < nq; k++) {
        const uint64_t *q = qs + (size_t)(q0 + k) * W;
        keys[k] = chunk_value(q, W, x->chunk_off[i], len);
        fingerprint(x, i, q, qf + (size_t)k * IW);
        for (int64_t mk = 0; mk < np_; mk++) start[(keys[k] ^ x->masks[ms + mk]) + 1]++;
    }
    for (size_t b = 0; b < nb; b++) start[b + 1] += start[b];
    for (uint32_t k = 0; k < nq; k++) /* start[b] ends as the end of bucket b's pairs */
        for (int64_t mk = 0; mk < np_; mk++) pairs[start[keys[k] ^ x->masks[ms + mk]]++] = k;
    uint32_t s = 0;
    for (size_t b = 0; b < nb; b++) {
        const uint32_t e = start[b];
        if (e == s) continue;
        uint32_t lo = offs[b], hi = offs[b + 1];
        *bad |= (hi > n) | (lo > hi);
        hi = hi > n ? n : hi;
        lo = lo > hi ? hi : lo;
        for (uint32_t t = s; t < e; t++) {
            const uint32_t k = pairs[t];
            const uint64_t *q = qs + (size_t)(q0 + k) * W;
            if (IW >= 2) {
                /* PDQ's case (128-bit fingerprints or full copies): a tight filter loop on two words, ~1 ns a
                   candidate; the rare survivor (~1e-8 of random ones, and the true matches) takes the full
                   check. A generic loop over IW words with the full check inline ran 2.5x slower. */
                const uint64_t *f = x->inl + (x->inline_base[i] + lo) * IW;
                const uint64_t a = qf[(size_t)k * IW], c = qf[(size_t)k * IW + 1];
                for (uint32_t p = lo; p < hi; p++, f += IW) {
                    if (HW_POPCOUNT64(f[0] ^ a) + HW_POPCOUNT64(f[1] ^ c) > x->radius) continue;
                    if (check_entry(x, i, q, qf + (size_t)k * IW, IW, p, q0 + k, bad, out_q, out_id, out_d)) {
                        rc = -1;
                        goto out;
                    }
                }
                continue;
            }
            for (uint32_t p = lo; p < hi; p++) {
                if (check_entry(x, i, q, qf + (size_t)k * IW, IW, p, q0 + k, bad, out_q, out_id, out_d)) {
                    rc = -1;
                    goto out;
                }
            }
        }
        s = e;
    }
out:
    free(start);
    free(keys);
    free(pairs);
    free(qf);
    return rc;
}

/* The whole search of nq queries, chunk by chunk; the results, in chunk order, are then counting-sorted by
   query (stable). Returns 0, -1 (out of memory) or -2 (a bucket or id out of range). */
static int search_all(const mih_t *x, const uint64_t *qs, uint32_t nq, growbuf *oq, growbuf *oid, growbuf *od) {
    uint32_t bad = 0;
    growbuf tq = {0}, tid = {0}, td = {0};
    uint32_t *gather = NULL; /* probe_gathered's candidate list, reused across queries */
    size_t gather_cap = 0;
    int rc = 0;
    for (int i = 0; i < x->m && !rc; i++) {
        const int64_t np_ = x->mask_start[i + 1] - x->mask_start[i];
        if (np_ == 0) continue; /* chunk radius -1: not searched */
        /* A sweep costs ~2^len steps over the offsets; random probes cost a cache miss each: sweep when the
           block's probe pairs reach 1/16 of the buckets (measured: PDQ at 1e6, 16-bit chunks). Blocks keep
           the pair list under 16 MB. */
        uint32_t block = (uint32_t)((4u << 20) / (uint64_t)np_);
        if (block < 1) block = 1;
        for (uint32_t q0 = 0; q0 < nq && !rc; q0 += block) {
            const uint32_t cnt = nq - q0 < block ? nq - q0 : block;
            /* Chunks that reach codes through ids read them at random either way: probed per query, with
               the ids and codes prefetched ahead. */
            const int sequential = x->inline_base[i] >= 0 || x->id_base[i] < 0;
            if (sequential && (uint64_t)cnt * (uint64_t)np_ * 16 >= ((uint64_t)1 << x->chunk_len[i])) {
                rc = sweep_block(x, i, qs, q0, cnt, &bad, &tq, &tid, &td);
            } else if (!sequential) {
                for (uint32_t k = q0; k < q0 + cnt && !rc; k++)
                    rc = probe_gathered(x, i, qs + (size_t)k * x->words, k, &bad, &gather, &gather_cap, &tq,
                                        &tid, &td);
            } else {
                for (uint32_t k = q0; k < q0 + cnt && !rc; k++)
                    rc = probe_one(x, i, qs + (size_t)k * x->words, k, &bad, &tq, &tid, &td);
            }
        }
    }
    if (!rc) {
        const size_t nr = tq.len / 4;
        const uint32_t *rq = (const uint32_t *)tq.data;
        uint32_t *at = (uint32_t *)calloc((size_t)nq + 1, sizeof(uint32_t));
        oq->data = (uint8_t *)malloc(nr * 4 + 1);
        oid->data = (uint8_t *)malloc(nr * 4 + 1);
        od->data = (uint8_t *)malloc(nr * 2 + 1);
        if (!at || !oq->data || !oid->data || !od->data) {
            rc = -1;
        } else {
            for (size_t r = 0; r < nr; r++) at[rq[r] + 1]++;
            for (uint32_t k = 0; k < nq; k++) at[k + 1] += at[k];
            uint32_t *q_out = (uint32_t *)oq->data, *id_out = (uint32_t *)oid->data;
            uint16_t *d_out = (uint16_t *)od->data;
            const uint32_t *rid = (const uint32_t *)tid.data;
            const uint16_t *rd = (const uint16_t *)td.data;
            for (size_t r = 0; r < nr; r++) {
                const uint32_t w = at[rq[r]]++;
                q_out[w] = rq[r];
                id_out[w] = rid[r];
                d_out[w] = rd[r];
            }
            oq->len = oq->cap = nr * 4;
            oid->len = oid->cap = nr * 4;
            od->len = od->cap = nr * 2;
        }
        free(at);
    }
    free(tq.data);
    free(tid.data);
    free(td.data);
    free(gather);
    if (rc) return rc;
    return bad ? -2 : 0;
}

static PyObject *search(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer codes, chunk_off, chunk_len, chunk_radius, table_off, off_all, id_base, ids_all, masks_all,
        mask_start, inline_all, inline_base, inline_word0, inline_words, queries;
    int words, id_bytes, radius;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "y*iny*y*y*y*y*y*y*iy*y*y*y*y*y*y*i", &codes, &words, &n, &chunk_off,
                          &chunk_len, &chunk_radius, &table_off, &off_all, &id_base, &ids_all, &id_bytes,
                          &masks_all, &mask_start, &inline_all, &inline_base, &inline_word0, &inline_words,
                          &queries, &radius))
        return NULL;
    PyObject *result = NULL;
    growbuf oq = {0}, oid = {0}, od = {0};
    int m = (int)(chunk_off.len / 4);
    if (words < 1 || words > 8 || (id_bytes != 3 && id_bytes != 4) || chunk_len.len != chunk_off.len ||
        chunk_radius.len != chunk_off.len || table_off.len != m * 8 || id_base.len != m * 8 ||
        mask_start.len != (m + 1) * 8 || inline_base.len != m * 8 || inline_word0.len != m * 4 ||
        inline_words.len != m * 4 || (Py_ssize_t)codes.len < n * words * 8 ||
        queries.len % (words * 8)) {
        PyErr_SetString(PyExc_ValueError, "search: inconsistent arguments");
        goto done;
    }
    /* Every chunk's table, ids and inline codes must lie inside their buffers (they come from a file). */
    for (int i = 0; i < m; i++) {
        const int32_t off = ((const int32_t *)chunk_off.buf)[i], len = ((const int32_t *)chunk_len.buf)[i];
        const int64_t t_off = ((const int64_t *)table_off.buf)[i], base = ((const int64_t *)id_base.buf)[i];
        const int64_t ib = ((const int64_t *)inline_base.buf)[i];
        const int32_t iw = ((const int32_t *)inline_words.buf)[i], w0 = ((const int32_t *)inline_word0.buf)[i];
        const int64_t mk0 = ((const int64_t *)mask_start.buf)[i], mk1 = ((const int64_t *)mask_start.buf)[i + 1];
        if (len < 1 || len > 28 || off < 0 || off + len > words * 64 || t_off < 0 ||
            t_off + ((int64_t)1 << len) + 1 > (int64_t)(off_all.len / 4) ||
            (base >= 0 && (base + n) * id_bytes > (int64_t)ids_all.len) ||
            (ib >= 0 && (iw < 1 || iw > words || w0 < 0 || w0 >= words ||
                         (ib + n) * iw * 8 > (int64_t)inline_all.len)) ||
            (ib >= 0 && iw < words && base < 0) || mk0 < 0 || mk1 < mk0 ||
            mk1 > (int64_t)(masks_all.len / 4)) {
            PyErr_SetString(PyExc_ValueError, "search: a chunk's table lies outside its buffers");
            goto done;
        }
    }
    {
        mih_t x = {(const uint64_t *)codes.buf,
                   words,
                   n,
                   m,
                   (const int32_t *)chunk_off.buf,
                   (const int32_t *)chunk_len.buf,
                   (const int32_t *)chunk_radius.buf,
                   (const int64_t *)table_off.buf,
                   (const int64_t *)id_base.buf,
                   (const int64_t *)mask_start.buf,
                   (const int64_t *)inline_base.buf,
                   (const int32_t *)inline_word0.buf,
                   (const int32_t *)inline_words.buf,
                   (const uint32_t *)off_all.buf,
                   (const uint32_t *)masks_all.buf,
                   (const uint64_t *)inline_all.buf,
                   (const uint8_t *)ids_all.buf,
                   id_bytes,
                   radius};
        Py_ssize_t nq = queries.len / (words * 8);
        const uint64_t *qs = (const uint64_t *)queries.buf;
        int failed = 0;
        if (nq >= 0xffffffffLL) {
            PyErr_SetString(PyExc_ValueError, "search: too many queries in one call");
            goto done;
        }
        Py_BEGIN_ALLOW_THREADS
        failed = search_all(&x, qs, (uint32_t)nq, &oq, &oid, &od);
        Py_END_ALLOW_THREADS
        if (failed == -2) {
            PyErr_SetString(PyExc_ValueError, "search: a bucket offset or id is out of range");
            goto done;
        }
        if (failed) {
            PyErr_NoMemory();
            goto done;
        }
        result = Py_BuildValue("(y#y#y#)", oq.data ? (char *)oq.data : "", (Py_ssize_t)oq.len,
                               oid.data ? (char *)oid.data : "", (Py_ssize_t)oid.len,
                               od.data ? (char *)od.data : "", (Py_ssize_t)od.len);
    }
done:
    free(oq.data);
    free(oid.data);
    free(od.data);
    PyBuffer_Release(&codes);
    PyBuffer_Release(&chunk_off);
    PyBuffer_Release(&chunk_len);
    PyBuffer_Release(&chunk_radius);
    PyBuffer_Release(&table_off);
    PyBuffer_Release(&off_all);
    PyBuffer_Release(&id_base);
    PyBuffer_Release(&ids_all);
    PyBuffer_Release(&masks_all);
    PyBuffer_Release(&mask_start);
    PyBuffer_Release(&inline_all);
    PyBuffer_Release(&inline_base);
    PyBuffer_Release(&inline_word0);
    PyBuffer_Release(&inline_words);
    PyBuffer_Release(&queries);
    return result;
}

PyObject *hw_band_rows(PyObject *self, PyObject *args);
PyObject *hw_band_cols(PyObject *self, PyObject *args);
PyObject *hw_transpose_f32(PyObject *self, PyObject *args);

static PyMethodDef methods[] = {
    {"band_rows", hw_band_rows, METH_VARARGS, "Banded row filter: x (float32 h x w) -> float64 (h x n_out)."},
    {"band_cols", hw_band_cols, METH_VARARGS, "Banded column filter: x (float32 n x m) -> float64 (n_out x m)."},
    {"transpose_f32", hw_transpose_f32, METH_VARARGS, "Transpose: x (float32 h x w) -> float32 (w x h)."},
    {"build_chunk", hw_build_chunk, METH_VARARGS, "Counting sort of codes by one chunk: (offsets, order)."},
    {"search", search, METH_VARARGS, "Multi-index Hamming search: (query_idx, ids, dists) as bytes."},
    {"brute_force", hw_brute_force, METH_VARARGS, "Linear Hamming scan: (query_idx, ids, dists) as bytes."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef moduledef = {PyModuleDef_HEAD_INIT, "_mih",
                                       "Multi-index hashing hot loops for hashwatch (see known_hash_index.py).",
                                       -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__mih(void) { return PyModule_Create(&moduledef); }
