/* A page of stored feature vectors read straight from SQLite, without a Python object per value.
 *
 * feature_store.py reads a rescoring page as one aggregate row (group_concat of every column):
 * SQLite builds each joined text and the joined BLOB by growing a buffer, copies the BLOB again
 * for the CAST, Python copies it once more into a bytes object, and every one of those buffers is
 * fresh memory, faulted in page by page. In a rescoring worker (a new process, two or three pages
 * a run) that cost 3-4 us a record where walking the rows alone costs 0.7. Here the page's query
 * is stepped row by row and each vector's BLOB is copied once, from SQLite's page into the bytes
 * object the matrix is a view of; the four text columns are joined with NULs into buffers of
 * their own, as the aggregate joins them, so the caller splits them the same way.
 *
 * SQLite is the library Python's own sqlite3 module runs on, found among the loaded libraries
 * (``load``, given its path and the module's), opened RTLD_NOLOAD and checked to be the one the
 * module resolves its calls to: never a second copy, whose POSIX locks would not know the first
 * one's (SQLite's "multiple copies of SQLite in one process" caveat). No SQLite header is needed
 * to build this; the few entry points are declared below.
 *
 * ``read_page`` returns None when the page is not as the fast path expects (a vector of another
 * length, a value of another type, a text that is not UTF-8, more rows than planned), and raises
 * ``SqliteError`` for any SQLite failure: the caller then reads the page the Python way, which
 * either copes (vectors of several lengths) or raises the store's own error (busy, corrupt ...).
 * The stepping runs without the GIL.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../_prefault.h"

typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;

#define SQLITE_OK 0
#define SQLITE_ROW 100
#define SQLITE_DONE 101
#define SQLITE_TEXT 3
#define SQLITE_BLOB 4
#define SQLITE_OPEN_READWRITE 0x00000002
#define SQLITE_OPEN_NOMUTEX 0x00008000
#define SQLITE_TRANSIENT ((void (*)(void *))-1)

static struct {
    int (*open_v2)(const char *, sqlite3 **, int, const char *);
    int (*close_v2)(sqlite3 *);
    int (*busy_timeout)(sqlite3 *, int);
    int (*exec)(sqlite3 *, const char *, void *, void *, char **);
    int (*prepare_v2)(sqlite3 *, const char *, int, sqlite3_stmt **, const char **);
    int (*bind_int64)(sqlite3_stmt *, int, long long);
    int (*bind_text)(sqlite3_stmt *, int, const char *, int, void (*)(void *));
    int (*step)(sqlite3_stmt *);
    int (*column_type)(sqlite3_stmt *, int);
    const unsigned char *(*column_text)(sqlite3_stmt *, int);
    const void *(*column_blob)(sqlite3_stmt *, int);
    int (*column_bytes)(sqlite3_stmt *, int);
    int (*finalize)(sqlite3_stmt *);
    const char *(*errmsg)(sqlite3 *);
    const char *(*libversion)(void);
} api;

static int loaded = 0;
static PyObject *SqliteError;

#define TEXT_COLUMNS 4  /* prediction_id, policy_number, as_of, schema_version; then the BLOB */

/* ``load(path, module)``: bind the entry points of the SQLite library at ``path``, which must
 * already be loaded in this process and be the one the extension module at ``module`` (Python's
 * ``_sqlite3``) links to: its sqlite3_libversion, looked up from the module (the module and its
 * dependencies), is the library's. Returns the library's version string. */
static PyObject *load(PyObject *self, PyObject *args) {
    const char *path, *user;
    if (!PyArg_ParseTuple(args, "ss", &path, &user)) return NULL;
    void *handle = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    if (handle == NULL) {
        PyErr_Format(PyExc_ImportError, "SQLite is not loaded from %s", path);
        return NULL;
    }
    void *module = dlopen(user, RTLD_NOW | RTLD_NOLOAD);
    void *theirs = module == NULL ? NULL : dlsym(module, "sqlite3_libversion");
    if (module != NULL) dlclose(module);  /* NOLOAD took a reference; the module stays loaded */
    if (theirs == NULL || theirs != dlsym(handle, "sqlite3_libversion")) {
        dlclose(handle);
        PyErr_Format(PyExc_ImportError, "%s does not run on the SQLite of %s", user, path);
        return NULL;
    }
    struct { void **slot; const char *name; } symbols[] = {
        {(void **)&api.open_v2, "sqlite3_open_v2"},
        {(void **)&api.close_v2, "sqlite3_close_v2"},
        {(void **)&api.busy_timeout, "sqlite3_busy_timeout"},
        {(void **)&api.exec, "sqlite3_exec"},
        {(void **)&api.prepare_v2, "sqlite3_prepare_v2"},
        {(void **)&api.bind_int64, "sqlite3_bind_int64"},
        {(void **)&api.bind_text, "sqlite3_bind_text"},
        {(void **)&api.step, "sqlite3_step"},
        {(void **)&api.column_type, "sqlite3_column_type"},
        {(void **)&api.column_text, "sqlite3_column_text"},
        {(void **)&api.column_blob, "sqlite3_column_blob"},
        {(void **)&api.column_bytes, "sqlite3_column_bytes"},
        {(void **)&api.finalize, "sqlite3_finalize"},
        {(void **)&api.errmsg, "sqlite3_errmsg"},
        {(void **)&api.libversion, "sqlite3_libversion"},
    };
    for (size_t i = 0; i < sizeof symbols / sizeof symbols[0]; i++) {
        void *found = dlsym(handle, symbols[i].name);
        if (found == NULL) {
            loaded = 0;
            PyErr_Format(PyExc_ImportError, "%s has no %s", path, symbols[i].name);
            return NULL;
        }
        *symbols[i].slot = found;
    }
    loaded = 1;  /* the handle stays open: the library stays loaded while Python's module uses it */
    return PyUnicode_FromString(api.libversion());
}

typedef struct {
    char *data;
    size_t length, capacity;
} Buffer;

/* Append ``n`` bytes and a NUL separator (none before the first item); 0 when out of memory. */
static int append_item(Buffer *buffer, const char *item, size_t n, int first) {
    size_t need = buffer->length + n + (first ? 0 : 1);
    if (need > buffer->capacity) {
        size_t capacity = buffer->capacity ? buffer->capacity : 4096;
        while (capacity < need) capacity *= 2;
        char *grown = realloc(buffer->data, capacity);
        if (grown == NULL) return 0;
        buffer->data = grown;
        buffer->capacity = capacity;
    }
    if (!first) buffer->data[buffer->length++] = '\0';
    memcpy(buffer->data + buffer->length, item, n);
    buffer->length += n;
    return 1;
}

enum { READ_OK, READ_UNEXPECTED, READ_NOMEM, READ_SQLITE };

typedef struct {
    sqlite3_stmt *statement;
    Buffer texts[TEXT_COLUMNS];
    char *matrix;        /* rows * width bytes, the bytes object's storage */
    Py_ssize_t rows;     /* at most this many rows */
    Py_ssize_t width;    /* bytes per vector (the first row's) */
    Py_ssize_t found;
} Page;

/* One row into the page: its texts appended, its BLOB copied to row ``found`` of the matrix. */
static int take_row(Page *page) {
    if (page->found == page->rows) return READ_UNEXPECTED;
    for (int column = 0; column < TEXT_COLUMNS; column++) {
        if (api.column_type(page->statement, column) != SQLITE_TEXT) return READ_UNEXPECTED;
        const char *text = (const char *)api.column_text(page->statement, column);
        int n = api.column_bytes(page->statement, column);
        if (text == NULL) return READ_NOMEM;  /* a NUL inside: the caller's split finds it */
        if (!append_item(&page->texts[column], text, (size_t)n, page->found == 0)) return READ_NOMEM;
    }
    if (api.column_type(page->statement, TEXT_COLUMNS) != SQLITE_BLOB) return READ_UNEXPECTED;
    const void *blob = api.column_blob(page->statement, TEXT_COLUMNS);
    int n = api.column_bytes(page->statement, TEXT_COLUMNS);
    if (n != page->width || (n > 0 && blob == NULL)) return READ_UNEXPECTED;
    memcpy(page->matrix + page->found * page->width, blob, (size_t)n);
    page->found++;
    return READ_OK;
}

/* Every row after the first: the GIL is released by the caller. */
static int take_rest(Page *page, int *code) {
    for (;;) {
        *code = api.step(page->statement);
        if (*code == SQLITE_DONE) return READ_OK;
        if (*code != SQLITE_ROW) return READ_SQLITE;
        int taken = take_row(page);
        if (taken != READ_OK) return taken;
    }
}

static int bind(sqlite3_stmt *statement, PyObject *params) {
    Py_ssize_t n = PyTuple_GET_SIZE(params);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *value = PyTuple_GET_ITEM(params, i);
        int code;
        if (PyLong_CheckExact(value)) {
            long long number = PyLong_AsLongLong(value);
            if (number == -1 && PyErr_Occurred()) return -1;
            code = api.bind_int64(statement, (int)i + 1, number);
        } else if (PyUnicode_CheckExact(value)) {
            Py_ssize_t size;
            const char *text = PyUnicode_AsUTF8AndSize(value, &size);
            if (text == NULL) return -1;
            if (size > INT32_MAX) {
                PyErr_SetString(PyExc_ValueError, "parameter too long");
                return -1;
            }
            code = api.bind_text(statement, (int)i + 1, text, (int)size, SQLITE_TRANSIENT);
        } else {
            PyErr_SetString(PyExc_TypeError, "parameters are int or str");
            return -1;
        }
        if (code != SQLITE_OK) {
            PyErr_Format(SqliteError, "bind: code %d", code);
            return -1;
        }
    }
    return 0;
}

static PyObject *sqlite_error(sqlite3 *db, const char *what, int code) {
    PyErr_Format(SqliteError, "%s: code %d: %s", what, code, db ? api.errmsg(db) : "no connection");
    return NULL;
}

/* read_page(path, sql, params, rows, busy_timeout_ms, mmap_size) ->
 *     None | (count, width, ids, policies, as_of, schemas, blob)
 * ``width`` is a vector's length in bytes; the texts are str, each column's values joined with
 * NULs (as group_concat(..., char(0)) joins them); blob is the ``count * width`` vector bytes. */
static PyObject *read_page(PyObject *self, PyObject *args) {
    const char *path, *sql;
    PyObject *params;
    Py_ssize_t rows;
    int busy_timeout_ms;
    long long mmap_size;
    if (!PyArg_ParseTuple(args, "ssO!niL", &path, &sql, &PyTuple_Type, &params, &rows,
                          &busy_timeout_ms, &mmap_size))
        return NULL;
    if (!loaded) {
        PyErr_SetString(PyExc_RuntimeError, "load() the SQLite library first");
        return NULL;
    }
    if (rows < 1) {
        PyErr_SetString(PyExc_ValueError, "rows must be >= 1");
        return NULL;
    }
    sqlite3 *db = NULL;
    Page page = {.rows = rows};
    PyObject *blob = NULL, *result = NULL;
    int code = api.open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (code != SQLITE_OK) {
        sqlite_error(db, "open", code);
        goto done;
    }
    api.busy_timeout(db, busy_timeout_ms);
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA mmap_size=%lld", mmap_size);
    if ((code = api.exec(db, pragma, NULL, NULL, NULL)) != SQLITE_OK) {
        sqlite_error(db, "mmap_size", code);
        goto done;
    }
    if ((code = api.prepare_v2(db, sql, -1, &page.statement, NULL)) != SQLITE_OK) {
        sqlite_error(db, "prepare", code);
        goto done;
    }
    if (bind(page.statement, params) < 0) goto done;

    int outcome;
    Py_BEGIN_ALLOW_THREADS
    code = api.step(page.statement);
    Py_END_ALLOW_THREADS
    if (code == SQLITE_DONE) {  /* an empty page: the caller's count check says what that means */
        result = Py_None;
        Py_INCREF(result);
        goto done;
    }
    if (code != SQLITE_ROW) {
        sqlite_error(db, "step", code);
        goto done;
    }
    if (api.column_type(page.statement, TEXT_COLUMNS) != SQLITE_BLOB) goto unexpected;
    page.width = api.column_bytes(page.statement, TEXT_COLUMNS);
    if (page.width > PY_SSIZE_T_MAX / rows) goto unexpected;
    blob = PyBytes_FromStringAndSize(NULL, rows * page.width);
    if (blob == NULL) goto done;
    page.matrix = PyBytes_AS_STRING(blob);
    prefault(page.matrix, (size_t)(rows * page.width));
    outcome = take_row(&page);
    if (outcome == READ_OK) {
        Py_BEGIN_ALLOW_THREADS
        outcome = take_rest(&page, &code);
        Py_END_ALLOW_THREADS
    }
    if (outcome == READ_UNEXPECTED) goto unexpected;
    if (outcome == READ_NOMEM) {
        PyErr_NoMemory();
        goto done;
    }
    if (outcome == READ_SQLITE) {
        sqlite_error(db, "step", code);
        goto done;
    }
    if (page.found < rows && _PyBytes_Resize(&blob, page.found * page.width) < 0) goto done;
    PyObject *texts[TEXT_COLUMNS] = {NULL};
    for (int column = 0; column < TEXT_COLUMNS; column++) {
        texts[column] = PyUnicode_DecodeUTF8(page.texts[column].data,
                                             (Py_ssize_t)page.texts[column].length, "strict");
        if (texts[column] == NULL) {  /* not UTF-8: the Python readers say what is wrong */
            for (int made = 0; made < column; made++) Py_DECREF(texts[made]);
            if (!PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) goto done;
            PyErr_Clear();
            goto unexpected;
        }
    }
    result = Py_BuildValue("nnNNNNO", page.found, page.width, texts[0], texts[1], texts[2],
                           texts[3], blob);
    goto done;

unexpected:
    result = Py_None;
    Py_INCREF(result);

done:
    Py_XDECREF(blob);
    for (int column = 0; column < TEXT_COLUMNS; column++) free(page.texts[column].data);
    if (page.statement != NULL) api.finalize(page.statement);
    if (db != NULL) api.close_v2(db);
    return result;
}

static PyMethodDef methods[] = {
    {"load", load, METH_VARARGS, "Bind the loaded SQLite library that the given module uses."},
    {"read_page", read_page, METH_VARARGS, "One page of stored feature vectors, or None."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_pageread", NULL, -1, methods};

PyMODINIT_FUNC PyInit__pageread(void) {
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    SqliteError = PyErr_NewException("riskscore.adapters.sqlite._pageread.SqliteError", NULL, NULL);
    if (SqliteError == NULL || PyModule_AddObject(m, "SqliteError", SqliteError) < 0) {
        Py_XDECREF(SqliteError);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(SqliteError);
    return m;
}
