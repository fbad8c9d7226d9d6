/* Shared by the _mih extension's sources (_mih.c, _mih_build.c): popcount, prefetch and inlining macros,
   reading a chunk's value and an id, and a growable output buffer. Only hash bits pass through here. */
#ifndef HW_MIH_COMMON_H
#define HW_MIH_COMMON_H
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#include <xmmintrin.h>
#endif

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define HW_CLONES __attribute__((target_clones("popcnt", "default")))
#endif
#endif
#ifndef HW_CLONES
#define HW_CLONES
#endif

#if defined(__GNUC__)
#define HW_INLINE static inline __attribute__((always_inline))
#else
#define HW_INLINE static inline
#endif

#if defined(__GNUC__)
#define HW_PREFETCH(p) __builtin_prefetch((p), 0, 0)
#define HW_POPCOUNT64(x) __builtin_popcountll(x)
#else
#define HW_PREFETCH(p) ((void)0)
static int HW_POPCOUNT64(uint64_t x) {
    int c = 0;
    while (x) { x &= x - 1; c++; }
    return c;
}
#endif

HW_INLINE uint32_t chunk_value(const uint64_t *code, int words, int off, int len) {
    int w = off >> 6, sh = off & 63;
    uint64_t v = code[w] >> sh;
    if (sh + len > 64 && w + 1 < words) v |= code[w + 1] << (64 - sh);
    return (uint32_t)(v & ((len >= 32) ? 0xffffffffULL : ((1ULL << len) - 1)));
}

HW_INLINE uint32_t load_id(const uint8_t *ids, int64_t pos, int id_bytes) {
    const uint8_t *p = ids + pos * id_bytes;
    uint32_t v = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16);
    if (id_bytes == 4) v |= (uint32_t)p[3] << 24;
    return v;
}

typedef struct {
    uint8_t *data;
    size_t len, cap;
} growbuf;

static inline int gb_push(growbuf *g, const void *item, size_t size) {
    if (g->len + size > g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 4096;
        while (cap < g->len + size) cap *= 2;
        uint8_t *d = (uint8_t *)realloc(g->data, cap);
        if (!d) return -1;
        g->data = d;
        g->cap = cap;
    }
    memcpy(g->data + g->len, item, size);
    g->len += size;
    return 0;
}

#endif
