/* SHA-256 of many short messages in one call, for batch rescoring's per-row digests.
 *
 * The feature hash of a stored vector and a derived prediction id are each one SHA-256 per row
 * (their definitions: domain/features/schema.py, domain/usecases/ids.py). From Python each costs
 * the hash itself plus about 0.9 us of object creation and calls; here a batch is one call, and the
 * hash runs on the CPU's SHA extensions (x86 SHA-NI). Without them (another CPU, another
 * architecture) ``available()`` is false and the callers keep using hashlib: there is no portable
 * C SHA-256 here, since it would be slower than OpenSSL's.
 *
 * Only the digests come from here; turning them into text stays in Python. Tests hold every
 * function to hashlib on random messages of every length around the block boundaries
 * (tests/unit/test_domain_digests.py).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_SHA_NI_BUILD 1
#include <cpuid.h>
#include <immintrin.h>
#else
#define HAVE_SHA_NI_BUILD 0
#endif

static const uint32_t INITIAL[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

#if HAVE_SHA_NI_BUILD
static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static int cpu_has_sha(void) {
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int ssse3 = (c >> 9) & 1, sse41 = (c >> 19) & 1;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return ssse3 && sse41 && ((b >> 29) & 1);
}

/* Compress `blocks` 64-byte blocks of each of `lanes` messages (1 or 2; a constant where this is
 * inlined) into its state (eight words, A..H). The SHA extensions keep a state as two vectors,
 * ABEF and CDGH; each sha256rnds2 does two rounds, and the message schedule for rounds 16..63 is
 * built four words at a time with sha256msg1/msg2. A message's rounds form one chain, each waiting
 * for the one before: two messages' chains interleaved keep the SHA unit busy while either waits
 * (about 1.7 times the rows per second of one at a time, measured). */
__attribute__((target("sha,sse4.1,ssse3"), always_inline)) static inline void compress_lanes(
    int lanes, uint32_t *const state[], const uint8_t *const message[], size_t blocks) {
    const __m128i swap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i state0[2], state1[2];
    for (int l = 0; l < lanes; l++) {
        __m128i tmp = _mm_loadu_si128((const __m128i *)&state[l][0]);  /* A B C D (lanes 0..3) */
        __m128i efgh = _mm_loadu_si128((const __m128i *)&state[l][4]); /* E F G H */
        tmp = _mm_shuffle_epi32(tmp, 0xB1);                             /* B A D C */
        efgh = _mm_shuffle_epi32(efgh, 0x1B);                           /* H G F E */
        state0[l] = _mm_alignr_epi8(tmp, efgh, 8);                      /* F E B A: "ABEF" */
        state1[l] = _mm_blend_epi16(efgh, tmp, 0xF0);                   /* H G D C: "CDGH" */
    }
    for (size_t block = 0; block < blocks; block++) {
        __m128i abef[2], cdgh[2], w[2][4];
        for (int l = 0; l < lanes; l++) abef[l] = state0[l], cdgh[l] = state1[l];
        _Pragma("GCC unroll 16") for (int i = 0; i < 16; i++) {
            _Pragma("GCC unroll 2") for (int l = 0; l < lanes; l++) {
                const uint8_t *data = message[l] + 64 * block;
                if (i < 4)
                    w[l][i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(data + 16 * i)), swap);
                __m128i msg = _mm_add_epi32(w[l][i & 3], _mm_loadu_si128((const __m128i *)&K[4 * i]));
                state1[l] = _mm_sha256rnds2_epu32(state1[l], state0[l], msg);
                if (i >= 3 && i <= 14) {
                    /* the schedule's next four words: w[i+1] (which msg1 already started on) */
                    __m128i next = _mm_add_epi32(
                        w[l][(i + 1) & 3], _mm_alignr_epi8(w[l][i & 3], w[l][(i - 1) & 3], 4));
                    w[l][(i + 1) & 3] = _mm_sha256msg2_epu32(next, w[l][i & 3]);
                }
                msg = _mm_shuffle_epi32(msg, 0x0E);
                state0[l] = _mm_sha256rnds2_epu32(state0[l], state1[l], msg);
                if (i >= 1 && i <= 12)
                    w[l][(i - 1) & 3] = _mm_sha256msg1_epu32(w[l][(i - 1) & 3], w[l][i & 3]);
            }
        }
        for (int l = 0; l < lanes; l++) {
            state0[l] = _mm_add_epi32(state0[l], abef[l]);
            state1[l] = _mm_add_epi32(state1[l], cdgh[l]);
        }
    }
    for (int l = 0; l < lanes; l++) {
        __m128i tmp = _mm_shuffle_epi32(state0[l], 0x1B); /* A B E F */
        __m128i ghcd = _mm_shuffle_epi32(state1[l], 0xB1); /* G H C D */
        _mm_storeu_si128((__m128i *)&state[l][0], _mm_blend_epi16(tmp, ghcd, 0xF0)); /* A B C D */
        _mm_storeu_si128((__m128i *)&state[l][4], _mm_alignr_epi8(ghcd, tmp, 8));   /* E F G H */
    }
}

__attribute__((target("sha,sse4.1,ssse3"))) static void compress(uint32_t state[8],
                                                                 const uint8_t *data,
                                                                 size_t blocks) {
    uint32_t *const states[1] = {state};
    const uint8_t *const messages[1] = {data};
    compress_lanes(1, states, messages, blocks);
}

__attribute__((target("sha,sse4.1,ssse3"))) static void compress2(uint32_t state_a[8],
                                                                  uint32_t state_b[8],
                                                                  const uint8_t *a,
                                                                  const uint8_t *b,
                                                                  size_t blocks) {
    uint32_t *const states[2] = {state_a, state_b};
    const uint8_t *const messages[2] = {a, b};
    compress_lanes(2, states, messages, blocks);
}
#endif

static int sha_ready = 0;

/* Pad the `length` bytes at the front of `buffer` into whole blocks; how many. `buffer` has room
 * for the padding (length + 72 bytes, rounded up to a block) and is overwritten past `length`. */
static size_t pad(uint8_t *buffer, size_t length) {
    size_t padded = (length + 9 + 63) & ~(size_t)63;
    buffer[length] = 0x80;
    memset(buffer + length + 1, 0, padded - length - 9);
    uint64_t bits = (uint64_t)length * 8;
    for (int i = 0; i < 8; i++) buffer[padded - 1 - i] = (uint8_t)(bits >> (8 * i));
    return padded / 64;
}

static void store_digest(const uint32_t state[8], uint8_t out[32]) {
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(state[i] >> 24);
        out[4 * i + 1] = (uint8_t)(state[i] >> 16);
        out[4 * i + 2] = (uint8_t)(state[i] >> 8);
        out[4 * i + 3] = (uint8_t)state[i];
    }
}

/* SHA-256 of the `length` bytes at the front of `buffer` into `out` (`buffer` as for `pad`). */
static void digest_in_place(uint8_t *buffer, size_t length, uint8_t out[32]) {
#if HAVE_SHA_NI_BUILD
    uint32_t state[8];
    memcpy(state, INITIAL, sizeof state);
    compress(state, buffer, pad(buffer, length));
    store_digest(state, out);
#else
    (void)buffer; (void)length; (void)out; (void)pad; (void)store_digest;
#endif
}

/* The same for two messages of one length at once (`a` and `b` as for `pad`). */
static void digest_two_in_place(uint8_t *a, uint8_t *b, size_t length, uint8_t out_a[32],
                                uint8_t out_b[32]) {
#if HAVE_SHA_NI_BUILD
    uint32_t state_a[8], state_b[8];
    memcpy(state_a, INITIAL, sizeof state_a);
    memcpy(state_b, INITIAL, sizeof state_b);
    size_t blocks = pad(a, length);
    pad(b, length);
    compress2(state_a, state_b, a, b, blocks);
    store_digest(state_a, out_a);
    store_digest(state_b, out_b);
#else
    (void)a; (void)b; (void)length; (void)out_a; (void)out_b;
#endif
}

static int require_sha(void) {
    if (sha_ready) return 1;
    PyErr_SetString(PyExc_RuntimeError, "this CPU has no SHA extensions: use hashlib");
    return 0;
}

static PyObject *available(PyObject *self, PyObject *unused) {
    (void)self; (void)unused;
    return PyBool_FromLong(sha_ready);
}

/* Copy `words` float64 values (native order, which is little-endian wherever SHA-NI is) into `to`,
 * every NaN written as the one quiet NaN (0x7ff8000000000000, numpy's nan). */
static void copy_canonical(uint8_t *to, const uint8_t *from, size_t words) {
    for (size_t i = 0; i < words; i++) {
        uint64_t word;
        memcpy(&word, from + 8 * i, 8);
        if ((word & 0x7ff0000000000000ULL) == 0x7ff0000000000000ULL && (word & 0x000fffffffffffffULL))
            word = 0x7ff8000000000000ULL;
        memcpy(to + 8 * i, &word, 8);
    }
}

/* SHA-256(prefix + row) of `rows` rows of `row_bytes` bytes at `data` into `out`, 32 bytes each, two
 * rows at a time (`digest_two_in_place`), without the GIL. `canonical`: the rows are float64 values,
 * every NaN hashed as the one quiet NaN. 0 when out of memory. */
static int hash_rows(const uint8_t *data, Py_ssize_t rows, size_t row_bytes, const Py_buffer *prefix,
                     int canonical, uint8_t *out) {
    size_t length = (size_t)prefix->len + row_bytes;
    size_t room = (length + 72 + 63) & ~(size_t)63;
    uint8_t *first = PyMem_Malloc(2 * room);
    if (first == NULL) return 0;
    uint8_t *second = first + room, *at_first = first + prefix->len, *at_second = second + prefix->len;
    memcpy(first, prefix->buf, (size_t)prefix->len);
    memcpy(second, prefix->buf, (size_t)prefix->len);
    Py_BEGIN_ALLOW_THREADS
    Py_ssize_t i = 0;
    for (; i + 1 < rows; i += 2, data += 2 * row_bytes, out += 64) {
        if (canonical) {
            copy_canonical(at_first, data, row_bytes / 8);
            copy_canonical(at_second, data + row_bytes, row_bytes / 8);
        } else {
            memcpy(at_first, data, row_bytes);
            memcpy(at_second, data + row_bytes, row_bytes);
        }
        digest_two_in_place(first, second, length, out, out + 32);
    }
    if (i < rows) {
        if (canonical) copy_canonical(at_first, data, row_bytes / 8);
        else memcpy(at_first, data, row_bytes);
        digest_in_place(first, length, out);
    }
    Py_END_ALLOW_THREADS
    PyMem_Free(first);
    return 1;
}

/* row_digests(data, row_bytes, prefix) -> bytes: SHA-256(prefix + row) of every row of `data`
 * (rows of `row_bytes` bytes, back to back), 32 bytes each. */
static PyObject *row_digests(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer data, prefix;
    Py_ssize_t row_bytes;
    if (!PyArg_ParseTuple(args, "y*ny*", &data, &row_bytes, &prefix)) return NULL;
    PyObject *result = NULL;
    if (!require_sha()) goto done;
    if (row_bytes < 0 || (row_bytes == 0 && data.len != 0) || (row_bytes && data.len % row_bytes)) {
        PyErr_SetString(PyExc_ValueError, "data is not a whole number of rows");
        goto done;
    }
    Py_ssize_t rows = row_bytes ? data.len / row_bytes : 0;
    result = PyBytes_FromStringAndSize(NULL, rows * 32);
    if (result == NULL) goto done;
    if (!hash_rows(data.buf, rows, (size_t)row_bytes, &prefix, 0,
                   (uint8_t *)PyBytes_AS_STRING(result))) {
        Py_CLEAR(result);
        PyErr_NoMemory();
    }
done:
    PyBuffer_Release(&data);
    PyBuffer_Release(&prefix);
    return result;
}

static const char HEX[] = "0123456789abcdef";

/* The first `digits` hex digits of `digest`, as a new str. */
static PyObject *hex_text(const uint8_t digest[32], Py_ssize_t digits) {
    PyObject *text = PyUnicode_New(digits, 127);
    if (text == NULL) return NULL;
    Py_UCS1 *at = PyUnicode_1BYTE_DATA(text);
    for (Py_ssize_t i = 0; i < digits; i++)
        at[i] = (Py_UCS1)HEX[i & 1 ? digest[i / 2] & 0x0F : digest[i / 2] >> 4];
    return text;
}

/* float_row_hex_digests(data, row_bytes, prefix, digits) -> list[str]: the first `digits` hex
 * digits of SHA-256(prefix + row) of every row of float64 values in `data` (rows of `row_bytes`
 * bytes, a multiple of 8, back to back), every NaN hashed as the one quiet NaN: a stored vector's
 * feature hash (features/schema.py, content_hashes), with no NaN pass nor hex pass of its own. */
static PyObject *float_row_hex_digests(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer data, prefix;
    Py_ssize_t row_bytes, digits;
    if (!PyArg_ParseTuple(args, "y*ny*n", &data, &row_bytes, &prefix, &digits)) return NULL;
    PyObject *result = NULL;
    uint8_t *digests = NULL;
    if (!require_sha()) goto done;
    if (row_bytes <= 0 || row_bytes % 8 || data.len % row_bytes) {
        PyErr_SetString(PyExc_ValueError, "data is not a whole number of rows of float64 values");
        goto done;
    }
    if (digits < 0 || digits > 64) {
        PyErr_SetString(PyExc_ValueError, "digits must be 0 to 64");
        goto done;
    }
    Py_ssize_t rows = data.len / row_bytes;
    digests = PyMem_Malloc(rows ? (size_t)rows * 32 : 1);
    if (digests == NULL || !hash_rows(data.buf, rows, (size_t)row_bytes, &prefix, 1, digests)) {
        PyErr_NoMemory();
        goto done;
    }
    result = PyList_New(rows);
    if (result == NULL) goto done;
    for (Py_ssize_t r = 0; r < rows; r++) {
        PyObject *text = hex_text(digests + 32 * r, digits);
        if (text == NULL) {
            Py_CLEAR(result);
            goto done;
        }
        PyList_SET_ITEM(result, r, text);
    }
done:
    PyMem_Free(digests);
    PyBuffer_Release(&data);
    PyBuffer_Release(&prefix);
    return result;
}

/* indexed_digests(prefix, indexes) -> bytes: SHA-256(prefix + b"%d" % index) of every index of
 * `indexes` (native int64 values, none negative), 32 bytes each. */
static PyObject *indexed_digests(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer prefix, indexes;
    if (!PyArg_ParseTuple(args, "y*y*", &prefix, &indexes)) return NULL;
    PyObject *result = NULL;
    uint8_t *scratch = NULL;
    if (!require_sha()) goto done;
    if (indexes.len % (Py_ssize_t)sizeof(int64_t)) {
        PyErr_SetString(PyExc_ValueError, "indexes must be int64 values");
        goto done;
    }
    Py_ssize_t count = indexes.len / (Py_ssize_t)sizeof(int64_t);
    const int64_t *values = indexes.buf;
    for (Py_ssize_t i = 0; i < count; i++) {
        if (values[i] < 0) {
            PyErr_SetString(PyExc_ValueError, "indexes must not be negative");
            goto done;
        }
    }
    result = PyBytes_FromStringAndSize(NULL, count * 32);
    if (result == NULL) goto done;
    scratch = PyMem_Malloc((size_t)prefix.len + 20 + 72);
    if (scratch == NULL) {
        Py_CLEAR(result);
        PyErr_NoMemory();
        goto done;
    }
    uint8_t *out = (uint8_t *)PyBytes_AS_STRING(result);
    memcpy(scratch, prefix.buf, (size_t)prefix.len);
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < count; i++, out += 32) {
        char digits[20];
        int n = 0;
        uint64_t v = (uint64_t)values[i];
        do {
            digits[n++] = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        uint8_t *at = scratch + prefix.len;
        while (n) *at++ = (uint8_t)digits[--n];
        digest_in_place(scratch, (size_t)(at - scratch), out);
    }
    Py_END_ALLOW_THREADS
done:
    PyMem_Free(scratch);
    PyBuffer_Release(&prefix);
    PyBuffer_Release(&indexes);
    return result;
}

static PyMethodDef methods[] = {
    {"available", available, METH_NOARGS, "Whether this CPU can run the digests here."},
    {"row_digests", row_digests, METH_VARARGS, "SHA-256(prefix + row) of every row, 32 bytes each."},
    {"float_row_hex_digests", float_row_hex_digests, METH_VARARGS,
     "Hex digits of SHA-256(prefix + row) of every row of float64 values, NaN as one NaN."},
    {"indexed_digests", indexed_digests, METH_VARARGS,
     "SHA-256(prefix + decimal index) of every int64 index, 32 bytes each."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_digests", "Batch SHA-256 digests on the CPU's SHA extensions.", -1,
    methods,
};

PyMODINIT_FUNC PyInit__digests(void) {
#if HAVE_SHA_NI_BUILD
    sha_ready = cpu_has_sha();
#endif
    return PyModule_Create(&module);
}
