/*
 * PDQ's banded downscale filters and a float transpose for hashwatch (draft_resample.py, candidate_bands.py):
 * part of the hashwatch.hashing._mih extension (its method table is in _mih.c, which declares these three).
 * Nothing here sees image bytes, only luma arrays. Compiled with -ffp-contract=off (setup.py): no fused
 * multiply-adds, so the sums round as numpy's do.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#include <xmmintrin.h>
#endif

PyObject *hw_band_rows(PyObject *self, PyObject *args);
PyObject *hw_band_cols(PyObject *self, PyObject *args);
PyObject *hw_transpose_f32(PyObject *self, PyObject *args);

/* ------------------------------------------------------------------ banded row filter (PDQ's downscale) */

/* out[y][j] = sum_k weights[j][k] * x[y][starts[j] + k] for k < L and starts[j] + k < w: a separable filter
   whose rows are short bands (PDQ's Jarosz tent spans ~2 % of a row), so this does ~1/40 of a dense product's
   work. x is float32 (h x w), weights float64 (n_out x L); returns float64 (h x n_out) as bytes. Used by
   draft_resample.py; nothing here sees image bytes, only a luma array. */
PyObject *hw_band_rows(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer x, starts, weights;
    Py_ssize_t h, w, L;
    if (!PyArg_ParseTuple(args, "y*nny*y*n", &x, &h, &w, &starts, &weights, &L)) return NULL;
    PyObject *out_obj = NULL;
    Py_ssize_t n_out = starts.len / 4;
    if (h < 0 || w < 1 || L < 1 || x.len < h * w * 4 || weights.len != n_out * L * 8) {
        PyErr_SetString(PyExc_ValueError, "band_rows: inconsistent arguments");
        goto done;
    }
    out_obj = PyBytes_FromStringAndSize(NULL, h * n_out * 8);
    if (!out_obj) goto done;
    {
        const float *xs = (const float *)x.buf;
        const int32_t *st = (const int32_t *)starts.buf;
        const double *wt = (const double *)weights.buf;
        double *out = (double *)PyBytes_AS_STRING(out_obj);
        Py_BEGIN_ALLOW_THREADS
        /* Four rows at a time, interleaved into blk (blk[4 k + r] = row r's pixel k) so that each step of the
           sum reads four adjacent floats, which the compiler turns into two-lane vector products and sums.
           Each lane is one output's sum, accumulated in exactly the order of the one-row loop below (k
           ascending, one rounding per product and per addition: no fused multiply-add, see setup.py), so
           the results are bit-identical to it. */
        Py_ssize_t y = 0;
        float *blk = (float *)malloc((size_t)w * 4 * sizeof(float));
        if (blk) {
            for (; y + 4 <= h; y += 4) {
                const float *r0 = xs + y * w;
                Py_ssize_t k0 = 0;
#ifdef __SSE2__
                for (; k0 + 4 <= w; k0 += 4) { /* a 4 x 4 transpose per step */
                    __m128 q0 = _mm_loadu_ps(r0 + k0), q1 = _mm_loadu_ps(r0 + w + k0);
                    __m128 q2 = _mm_loadu_ps(r0 + 2 * w + k0), q3 = _mm_loadu_ps(r0 + 3 * w + k0);
                    _MM_TRANSPOSE4_PS(q0, q1, q2, q3);
                    _mm_storeu_ps(blk + 4 * k0, q0);
                    _mm_storeu_ps(blk + 4 * k0 + 4, q1);
                    _mm_storeu_ps(blk + 4 * k0 + 8, q2);
                    _mm_storeu_ps(blk + 4 * k0 + 12, q3);
                }
#endif
                for (Py_ssize_t k = k0; k < w; k++) {
                    blk[4 * k] = r0[k];
                    blk[4 * k + 1] = r0[w + k];
                    blk[4 * k + 2] = r0[2 * w + k];
                    blk[4 * k + 3] = r0[3 * w + k];
                }
                for (Py_ssize_t j = 0; j < n_out; j++) {
                    Py_ssize_t s = st[j], lim = L;
                    if (s < 0) s = 0;
                    if (s + lim > w) lim = w - s;
                    const double *wj = wt + j * L;
                    const float *p = blk + 4 * s;
                    double a[4];
#ifdef __SSE2__
                    __m128d a01 = _mm_setzero_pd(), a23 = _mm_setzero_pd();
                    for (Py_ssize_t k = 0; k < lim; k++) {
                        const __m128d c = _mm_set1_pd(wj[k]);
                        const __m128 v = _mm_loadu_ps(p + 4 * k);
                        a01 = _mm_add_pd(a01, _mm_mul_pd(c, _mm_cvtps_pd(v)));
                        a23 = _mm_add_pd(a23, _mm_mul_pd(c, _mm_cvtps_pd(_mm_movehl_ps(v, v))));
                    }
                    _mm_storeu_pd(a, a01);
                    _mm_storeu_pd(a + 2, a23);
#else
                    a[0] = a[1] = a[2] = a[3] = 0.0;
                    for (Py_ssize_t k = 0; k < lim; k++) {
                        const double c = wj[k];
                        for (int r = 0; r < 4; r++) a[r] += c * (double)p[4 * k + r];
                    }
#endif
                    for (int r = 0; r < 4; r++) out[(y + r) * n_out + j] = a[r];
                }
            }
            free(blk);
        }
        for (; y < h; y++) {
            const float *row = xs + y * w;
            for (Py_ssize_t j = 0; j < n_out; j++) {
                Py_ssize_t s = st[j], lim = L;
                if (s < 0) s = 0;
                if (s + lim > w) lim = w - s;
                const double *wj = wt + j * L;
                double acc = 0.0;
                for (Py_ssize_t k = 0; k < lim; k++) acc += wj[k] * (double)row[s + k];
                out[y * n_out + j] = acc;
            }
        }
        Py_END_ALLOW_THREADS
    }
done:
    PyBuffer_Release(&x);
    PyBuffer_Release(&starts);
    PyBuffer_Release(&weights);
    return out_obj;
}

/* out[j][y] = sum_k weights[j][k] * x[starts[j] + k][y] for k < L and starts[j] + k < n: band_rows along the
   other axis (x is float32 n x m, e.g. a transposed luma; returns float64 n_out x m). The inner loop runs
   along a contiguous row of x with one independent sum per y, so it vectorises (AVX2 where the CPU has it,
   chosen at run time), and each sum is accumulated in exactly band_rows' order (k ascending, one rounding
   per product and per addition, no fused multiply-add: see setup.py): out[j][y] is bit-identical to
   band_rows(x transposed)[y][j]. */
__attribute__((target_clones("avx2", "default"))) static void band_cols_kernel(
    const float *xs, Py_ssize_t n, Py_ssize_t m, const int32_t *st, const double *wt, Py_ssize_t n_out,
    Py_ssize_t L, double *out) {
    for (Py_ssize_t j = 0; j < n_out; j++) {
        Py_ssize_t s = st[j], lim = L;
        if (s < 0) s = 0;
        if (s + lim > n) lim = n - s;
        const double *wj = wt + j * L;
        double *acc = out + j * m;
        for (Py_ssize_t y = 0; y < m; y++) acc[y] = 0.0;
        for (Py_ssize_t k = 0; k < lim; k++) {
            const double c = wj[k];
            const float *row = xs + (s + k) * m;
            for (Py_ssize_t y = 0; y < m; y++) acc[y] += c * (double)row[y];
        }
    }
}

PyObject *hw_band_cols(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer x, starts, weights;
    Py_ssize_t n, m, L;
    if (!PyArg_ParseTuple(args, "y*nny*y*n", &x, &n, &m, &starts, &weights, &L)) return NULL;
    PyObject *out_obj = NULL;
    Py_ssize_t n_out = starts.len / 4;
    if (n < 1 || m < 0 || L < 1 || x.len < n * m * 4 || weights.len != n_out * L * 8) {
        PyErr_SetString(PyExc_ValueError, "band_cols: inconsistent arguments");
        goto done;
    }
    out_obj = PyBytes_FromStringAndSize(NULL, n_out * m * 8);
    if (!out_obj) goto done;
    {
        const float *xs = (const float *)x.buf;
        const int32_t *st = (const int32_t *)starts.buf;
        const double *wt = (const double *)weights.buf;
        double *out = (double *)PyBytes_AS_STRING(out_obj);
        Py_BEGIN_ALLOW_THREADS
        band_cols_kernel(xs, n, m, st, wt, n_out, L, out);
        Py_END_ALLOW_THREADS
    }
done:
    PyBuffer_Release(&x);
    PyBuffer_Release(&starts);
    PyBuffer_Release(&weights);
    return out_obj;
}

/* The transpose of a float32 h x w array (bytes, w x h), in 4 x 4 blocks. */
PyObject *hw_transpose_f32(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer x;
    Py_ssize_t h, w;
    if (!PyArg_ParseTuple(args, "y*nn", &x, &h, &w)) return NULL;
    PyObject *out_obj = NULL;
    if (h < 0 || w < 0 || x.len < h * w * 4) {
        PyErr_SetString(PyExc_ValueError, "transpose_f32: inconsistent arguments");
        goto done;
    }
    out_obj = PyBytes_FromStringAndSize(NULL, h * w * 4);
    if (!out_obj) goto done;
    {
        const float *xs = (const float *)x.buf;
        float *out = (float *)PyBytes_AS_STRING(out_obj);
        Py_BEGIN_ALLOW_THREADS
        Py_ssize_t y4 = 0;
#ifdef __SSE2__
        y4 = h - h % 4;
        /* Columns in strips of 32, so the 32 output rows being filled stay in cache. */
        for (Py_ssize_t k0 = 0; k0 < w; k0 += 32) {
            const Py_ssize_t k1 = k0 + 32 < w ? k0 + 32 : w;
            for (Py_ssize_t y = 0; y < y4; y += 4) {
                const float *r0 = xs + y * w;
                Py_ssize_t k = k0;
                for (; k + 4 <= k1; k += 4) {
                    __m128 q0 = _mm_loadu_ps(r0 + k), q1 = _mm_loadu_ps(r0 + w + k);
                    __m128 q2 = _mm_loadu_ps(r0 + 2 * w + k), q3 = _mm_loadu_ps(r0 + 3 * w + k);
                    _MM_TRANSPOSE4_PS(q0, q1, q2, q3);
                    _mm_storeu_ps(out + k * h + y, q0);
                    _mm_storeu_ps(out + (k + 1) * h + y, q1);
                    _mm_storeu_ps(out + (k + 2) * h + y, q2);
                    _mm_storeu_ps(out + (k + 3) * h + y, q3);
                }
                for (; k < k1; k++)
                    for (Py_ssize_t r = 0; r < 4; r++) out[k * h + y + r] = r0[r * w + k];
            }
        }
#endif
        for (Py_ssize_t y = y4; y < h; y++)
            for (Py_ssize_t k = 0; k < w; k++) out[k * h + y] = xs[y * w + k];
        Py_END_ALLOW_THREADS
    }
done:
    PyBuffer_Release(&x);
    return out_obj;
}

