/* Output lines of a scored batch, put together without a Python object per piece.
 *
 * columnar.py describes a line as a list of parts (see ``assemble``): literals written on every
 * line, and columns that msgspec has already encoded, a whole column at a time, as one JSON array
 * (numbers, or strings). Its Python twin splits those arrays into one bytes object per value and
 * joins a line's pieces: about 2 us a row of object churn for ~730 bytes of output. Here the
 * arrays are scanned once for where their items start and end, and the lines are memcpy'd
 * together. Nothing is formatted or escaped here: every byte comes from msgspec or a literal, so
 * the output is the Python twin's byte for byte (tests/unit/test_rescore_lines.py holds the two
 * equal). Anything unexpected (an item count that does not match, a choice out of range) raises
 * ValueError, and the caller takes the Python path.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "../_prefault.h"

typedef struct {
    int kind;                 /* 0 literal, 1 number column, 2 string column, 3 choice column */
    const char *data;         /* literal bytes, or the encoded JSON array */
    Py_ssize_t length;
    Py_ssize_t stride, offset;
    Py_ssize_t *starts;       /* item i is data[starts[i] : ends[i]] (kinds 1, 2) */
    Py_ssize_t *ends;
    const int64_t *codes;     /* kind 3: one code per item */
    PyObject *choices;        /* kind 3: a tuple of bytes */
    Py_buffer view;           /* kind 3: the codes' buffer */
    int has_view;
} Part;

/* Item boundaries of a JSON array of numbers ("[1,2.5,null]"): `count` items or -1. */
static Py_ssize_t split_numbers(Part *part, Py_ssize_t count) {
    const char *s = part->data;
    Py_ssize_t n = part->length, at = 1, found = 0;
    if (n < 2 || s[0] != '[' || s[n - 1] != ']') return -1;
    if (n == 2) return count == 0 ? 0 : -1;
    while (at < n - 1) {
        if (found == count) return -1;
        const char *comma = memchr(s + at, ',', (size_t)(n - 1 - at));
        Py_ssize_t end = comma ? comma - s : n - 1;
        part->starts[found] = at;
        part->ends[found] = end;
        found++;
        at = end + 1;
    }
    return found;
}

/* Item boundaries of a JSON array of strings, quotes excluded ('["a","b\\"c"]'). */
static Py_ssize_t split_strings(Part *part, Py_ssize_t count) {
    const char *s = part->data;
    Py_ssize_t n = part->length, at = 1, found = 0;
    if (n < 2 || s[0] != '[' || s[n - 1] != ']') return -1;
    while (at < n - 1) {
        if (found == count || s[at] != '"') return -1;
        Py_ssize_t end = ++at;
        while (end < n - 1 && s[end] != '"') end += s[end] == '\\' ? 2 : 1;
        if (end >= n - 1) return -1;
        part->starts[found] = at;
        part->ends[found] = end;
        found++;
        at = end + 1;
        if (at < n - 1) {
            if (s[at] != ',') return -1;
            at++;
        }
    }
    return found;
}

static void release(Part *parts, Py_ssize_t used) {
    for (Py_ssize_t i = 0; i < used; i++) {
        PyMem_Free(parts[i].starts);
        PyMem_Free(parts[i].ends);
        if (parts[i].has_view) PyBuffer_Release(&parts[i].view);
    }
    PyMem_Free(parts);
}

static int bad(const char *message) {
    PyErr_SetString(PyExc_ValueError, message);
    return -1;
}

/* Read one part of the spec; 0 on success. */
static int read_part(PyObject *item, Part *part, Py_ssize_t rows) {
    memset(part, 0, sizeof *part);
    if (PyBytes_Check(item)) {
        part->kind = 0;
        part->data = PyBytes_AS_STRING(item);
        part->length = PyBytes_GET_SIZE(item);
        return 0;
    }
    if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) < 4) return bad("a part is bytes or a tuple");
    PyObject *kind = PyTuple_GET_ITEM(item, 0), *data = PyTuple_GET_ITEM(item, 1);
    part->stride = PyLong_AsSsize_t(PyTuple_GET_ITEM(item, 2));
    part->offset = PyLong_AsSsize_t(PyTuple_GET_ITEM(item, 3));
    if (PyErr_Occurred()) return -1;
    if (part->stride < 1 || part->offset < 0 || part->offset >= part->stride) return bad("bad stride");
    if (!PyUnicode_Check(kind) || PyUnicode_GET_LENGTH(kind) != 1) return bad("bad part kind");
    Py_UCS4 k = PyUnicode_READ_CHAR(kind, 0);
    Py_ssize_t count = rows * part->stride;
    if (k == 'c') {
        if (PyTuple_GET_SIZE(item) != 5 || !PyTuple_Check(PyTuple_GET_ITEM(item, 4))) {
            return bad("a choice part names its choices");
        }
        part->kind = 3;
        part->choices = PyTuple_GET_ITEM(item, 4);
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(part->choices); i++) {
            if (!PyBytes_Check(PyTuple_GET_ITEM(part->choices, i))) return bad("choices are bytes");
        }
        if (PyObject_GetBuffer(data, &part->view, PyBUF_SIMPLE) < 0) return -1;
        part->has_view = 1;
        if (part->view.len != count * (Py_ssize_t)sizeof(int64_t)) return bad("codes do not match");
        part->codes = part->view.buf;
        return 0;
    }
    if (!PyBytes_Check(data)) return bad("a column is encoded bytes");
    part->data = PyBytes_AS_STRING(data);
    part->length = PyBytes_GET_SIZE(data);
    part->starts = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(count ? count : 1));
    part->ends = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(count ? count : 1));
    if (part->starts == NULL || part->ends == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    if (k == 'n') {
        part->kind = 1;
        if (split_numbers(part, count) != count) return bad("a number column does not match");
    } else if (k == 's') {
        part->kind = 2;
        if (split_strings(part, count) != count) return bad("a string column does not match");
    } else {
        return bad("bad part kind");
    }
    return 0;
}

/* The piece of `part` on line `row`, or -1 (a choice out of range). */
static Py_ssize_t piece(const Part *part, Py_ssize_t row, const char **at) {
    if (part->kind == 0) {
        *at = part->data;
        return part->length;
    }
    Py_ssize_t i = row * part->stride + part->offset;
    if (part->kind == 3) {
        int64_t code = part->codes[i];
        if (code < 0 || code >= PyTuple_GET_SIZE(part->choices)) return -1;
        PyObject *choice = PyTuple_GET_ITEM(part->choices, code);
        *at = PyBytes_AS_STRING(choice);
        return PyBytes_GET_SIZE(choice);
    }
    *at = part->data + part->starts[i];
    return part->ends[i] - part->starts[i];
}

/* assemble(parts, rows) -> bytes: `rows` lines, line i the concatenation of every part's piece
 * for i. A part is bytes (a literal), ("n"|"s", encoded JSON array, stride, offset) (item
 * i * stride + offset of a column of numbers, or of strings without their quotes) or ("c", int64
 * codes, stride, offset, choices) (choices[code]). */
static PyObject *assemble(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *spec;
    Py_ssize_t rows;
    if (!PyArg_ParseTuple(args, "On", &spec, &rows)) return NULL;
    if (rows < 0) {
        PyErr_SetString(PyExc_ValueError, "rows must not be negative");
        return NULL;
    }
    PyObject *items = PySequence_Fast(spec, "parts must be a sequence");
    if (items == NULL) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(items), used = 0;
    PyObject *result = NULL;
    Part *parts = PyMem_Calloc((size_t)(n ? n : 1), sizeof(Part));
    if (parts == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (; used < n; used++) {
        if (read_part(PySequence_Fast_GET_ITEM(items, used), &parts[used], rows) < 0) {
            used++;
            goto done;
        }
    }
    Py_ssize_t total = 0;
    for (Py_ssize_t row = 0; row < rows; row++) {
        for (Py_ssize_t p = 0; p < n; p++) {
            const char *at;
            Py_ssize_t size = piece(&parts[p], row, &at);
            if (size < 0) {
                PyErr_SetString(PyExc_ValueError, "a choice is out of range");
                goto done;
            }
            total += size;
        }
    }
    result = PyBytes_FromStringAndSize(NULL, total);
    if (result == NULL) goto done;
    char *out = PyBytes_AS_STRING(result);
    prefault(out, (size_t)total);
    for (Py_ssize_t row = 0; row < rows; row++) {
        for (Py_ssize_t p = 0; p < n; p++) {
            const char *at;
            Py_ssize_t size = piece(&parts[p], row, &at);
            memcpy(out, at, (size_t)size);
            out += size;
        }
    }
done:
    if (parts != NULL) release(parts, used);
    Py_DECREF(items);
    return result;
}

static PyMethodDef methods[] = {
    {"assemble", assemble, METH_VARARGS, "Lines from literal and encoded-column parts."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_lines", "Output lines of a scored batch, assembled in C.", -1, methods,
};

PyMODINIT_FUNC PyInit__lines(void) { return PyModule_Create(&module); }
