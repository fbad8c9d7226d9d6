/*
 * The _mih extension's counting-sort build of one chunk and its brute-force scan (the tests' and benchmarks'
 * baseline); the method table is in _mih.c, which declares these two. See _mih.c for the layout.
 */
#include "_mih_common.h"

PyObject *hw_build_chunk(PyObject *self, PyObject *args);
PyObject *hw_brute_force(PyObject *self, PyObject *args);

/* ------------------------------------------------------------------ build_chunk */

PyObject *hw_build_chunk(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer codes;
    int words, off, len;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "y*inii", &codes, &words, &n, &off, &len)) return NULL;
    if (len < 1 || len > 28 || words < 1 || off < 0 || off + len > words * 64 ||
        (Py_ssize_t)codes.len < n * words * 8 || n > 0xffffffffLL) {
        PyBuffer_Release(&codes);
        PyErr_SetString(PyExc_ValueError, "build_chunk: bad arguments");
        return NULL;
    }
    size_t nb = (size_t)1 << len;
    PyObject *off_obj = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)((nb + 1) * 4));
    PyObject *ord_obj = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(n * 4));
    uint32_t *cursor = (uint32_t *)calloc(nb + 1, sizeof(uint32_t));
    if (!off_obj || !ord_obj || !cursor) {
        Py_XDECREF(off_obj);
        Py_XDECREF(ord_obj);
        free(cursor);
        PyBuffer_Release(&codes);
        return PyErr_NoMemory();
    }
    uint32_t *offsets = (uint32_t *)PyBytes_AS_STRING(off_obj);
    uint32_t *order = (uint32_t *)PyBytes_AS_STRING(ord_obj);
    const uint64_t *c = (const uint64_t *)codes.buf;
    Py_BEGIN_ALLOW_THREADS
    memset(offsets, 0, (nb + 1) * 4);
    for (Py_ssize_t i = 0; i < n; i++) offsets[chunk_value(c + i * words, words, off, len) + 1]++;
    for (size_t b = 0; b < nb; b++) offsets[b + 1] += offsets[b];
    memcpy(cursor, offsets, nb * 4);
    for (Py_ssize_t i = 0; i < n; i++) {
        uint32_t k = chunk_value(c + i * words, words, off, len);
        order[cursor[k]++] = (uint32_t)i;
    }
    Py_END_ALLOW_THREADS
    free(cursor);
    PyBuffer_Release(&codes);
    return Py_BuildValue("(NN)", off_obj, ord_obj);
}

/* ------------------------------------------------------------------ brute force (baseline and fallback) */

HW_CLONES
static void brute_loop(const uint64_t *codes, int words, Py_ssize_t n, const uint64_t *qs, Py_ssize_t nq,
                       int radius, growbuf *oq, growbuf *oid, growbuf *od, int *failed) {
    for (Py_ssize_t k = 0; k < nq && !*failed; k++) {
        const uint64_t *q = qs + k * words;
        for (Py_ssize_t i = 0; i < n; i++) {
            const uint64_t *c = codes + i * words;
            int d = 0;
            for (int w = 0; w < words; w++) d += HW_POPCOUNT64(c[w] ^ q[w]);
            if (d <= radius) {
                uint32_t qi = (uint32_t)k, id = (uint32_t)i;
                uint16_t d16 = (uint16_t)d;
                if (gb_push(oq, &qi, 4) || gb_push(oid, &id, 4) || gb_push(od, &d16, 2)) *failed = 1;
            }
        }
    }
}

PyObject *hw_brute_force(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer codes, queries;
    int words, radius;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "y*iny*i", &codes, &words, &n, &queries, &radius)) return NULL;
    PyObject *result = NULL;
    growbuf oq = {0}, oid = {0}, od = {0};
    if (words < 1 || (Py_ssize_t)codes.len < n * words * 8 || queries.len % (words * 8)) {
        PyErr_SetString(PyExc_ValueError, "brute_force: inconsistent arguments");
    } else {
        int failed = 0;
        Py_ssize_t nq = queries.len / (words * 8);
        Py_BEGIN_ALLOW_THREADS
        brute_loop((const uint64_t *)codes.buf, words, n, (const uint64_t *)queries.buf, nq, radius, &oq, &oid,
                   &od, &failed);
        Py_END_ALLOW_THREADS
        if (failed) {
            PyErr_NoMemory();
        } else {
            result = Py_BuildValue("(y#y#y#)", oq.data ? (char *)oq.data : "", (Py_ssize_t)oq.len,
                                   oid.data ? (char *)oid.data : "", (Py_ssize_t)oid.len,
                                   od.data ? (char *)od.data : "", (Py_ssize_t)od.len);
        }
    }
    free(oq.data);
    free(oid.data);
    free(od.data);
    PyBuffer_Release(&codes);
    PyBuffer_Release(&queries);
    return result;
}

