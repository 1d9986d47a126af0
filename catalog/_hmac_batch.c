/* HMAC-SHA256 of many messages under a few keys, in one C loop (catalog.keyed_hash).
 *
 * Ingest hashes every distinct identifier twice (its pseudonym and its identifier-index
 * entry). In Python each digest costs two hash-object copies, two updates and two
 * finals through the interpreter: about 2 us a value, most of an ingest's time. Here the
 * key's inner and outer SHA-256 states are prepared once (RFC 2104) and copied as plain
 * structs per message; OpenSSL's SHA-256 uses the CPU's SHA instructions where present.
 * The GIL is released while hashing. The digests are the same bytes as hmac.digest. */

#define PY_SSIZE_T_CLEAN
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_CTX: the only API with cheap state copies */
#include <Python.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <string.h>

#define BLOCK_BYTES 64
#define MAX_KEYS 4

typedef struct {
    SHA256_CTX inner, outer;
    Py_ssize_t size;      /* bytes kept of each digest, 1..32 */
    unsigned char *out;   /* size * count bytes */
} Prepared;

static void prepare(Prepared *p, const unsigned char *key, Py_ssize_t key_len,
                    const unsigned char *prefix, Py_ssize_t prefix_len) {
    unsigned char block[BLOCK_BYTES] = {0}, pad[BLOCK_BYTES];
    if (key_len > BLOCK_BYTES)
        SHA256(key, (size_t)key_len, block);
    else
        memcpy(block, key, (size_t)key_len);
    for (int i = 0; i < BLOCK_BYTES; i++) pad[i] = block[i] ^ 0x36;
    SHA256_Init(&p->inner);
    SHA256_Update(&p->inner, pad, BLOCK_BYTES);
    SHA256_Update(&p->inner, prefix, (size_t)prefix_len);
    for (int i = 0; i < BLOCK_BYTES; i++) pad[i] = block[i] ^ 0x5c;
    SHA256_Init(&p->outer);
    SHA256_Update(&p->outer, pad, BLOCK_BYTES);
}

static void hash_all(Prepared *keys, int key_count, const char **data,
                     const Py_ssize_t *lengths, Py_ssize_t count) {
    unsigned char middle[SHA256_DIGEST_LENGTH], full[SHA256_DIGEST_LENGTH];
    SHA256_CTX state;
    for (Py_ssize_t i = 0; i < count; i++) {
        for (int k = 0; k < key_count; k++) {
            state = keys[k].inner;
            SHA256_Update(&state, data[i], (size_t)lengths[i]);
            SHA256_Final(middle, &state);
            state = keys[k].outer;
            SHA256_Update(&state, middle, sizeof middle);
            SHA256_Final(full, &state);
            memcpy(keys[k].out + i * keys[k].size, full, (size_t)keys[k].size);
        }
    }
}

/* Prepares each (key: bytes, prefix: bytes, size: int) of `keys` and its output of
 * count * size bytes; returns the number of keys, or -1 with an exception set. */
static Py_ssize_t prepare_keys(PyObject *keys, Py_ssize_t count, Prepared *prepared,
                               PyObject **outputs) {
    Py_ssize_t key_count = PyTuple_GET_SIZE(keys);
    if (key_count < 1 || key_count > MAX_KEYS) {
        PyErr_Format(PyExc_ValueError, "between 1 and %d keys, got %zd", MAX_KEYS, key_count);
        return -1;
    }
    for (Py_ssize_t k = 0; k < key_count; k++) {
        const char *key, *prefix;
        Py_ssize_t key_len, prefix_len, size;
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(keys, k), "y#y#n", &key, &key_len, &prefix,
                              &prefix_len, &size))
            return -1;
        if (size < 1 || size > SHA256_DIGEST_LENGTH) {
            PyErr_Format(PyExc_ValueError, "a digest keeps 1 to 32 bytes, not %zd", size);
            return -1;
        }
        if (count > PY_SSIZE_T_MAX / size) {
            PyErr_NoMemory();
            return -1;
        }
        outputs[k] = PyBytes_FromStringAndSize(NULL, count * size);
        if (outputs[k] == NULL) return -1;
        prepare(&prepared[k], (const unsigned char *)key, key_len,
                (const unsigned char *)prefix, prefix_len);
        prepared[k].size = size;
        prepared[k].out = (unsigned char *)PyBytes_AS_STRING(outputs[k]);
    }
    return key_count;
}

/* Hashes with the GIL released and hands the outputs over as a tuple. */
static PyObject *hash_into_tuple(PyObject *keys, const char **data, const Py_ssize_t *lengths,
                                 Py_ssize_t count) {
    Prepared prepared[MAX_KEYS];
    PyObject *outputs[MAX_KEYS] = {NULL}, *result = NULL;
    Py_ssize_t key_count = prepare_keys(keys, count, prepared, outputs);
    if (key_count < 0) goto done;
    Py_BEGIN_ALLOW_THREADS
    hash_all(prepared, (int)key_count, data, lengths, count);
    Py_END_ALLOW_THREADS
    result = PyTuple_New(key_count);
    if (result == NULL) goto done;
    for (Py_ssize_t k = 0; k < key_count; k++) {
        PyTuple_SET_ITEM(result, k, outputs[k]);
        outputs[k] = NULL;
    }
done:
    for (int k = 0; k < MAX_KEYS; k++) Py_XDECREF(outputs[k]);
    OPENSSL_cleanse(prepared, sizeof prepared);
    return result;
}

/* Room for where each of count messages starts and how long it is; 0, or -1 with
 * MemoryError set (the caller frees both either way). */
static int allocate_spans(Py_ssize_t count, const char ***starts, Py_ssize_t **lengths) {
    size_t slots = (size_t)(count ? count : 1);
    *starts = PyMem_Malloc(sizeof **starts * slots);
    *lengths = PyMem_Malloc(sizeof **lengths * slots);
    if (*starts == NULL || *lengths == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* many(messages, keys) -> tuple of bytes
 *   messages: a sequence of bytes
 *   keys: a sequence of (key: bytes, prefix: bytes, size: int), at most MAX_KEYS
 * For each key, the HMAC-SHA256 of prefix + message under key, cut to size bytes,
 * joined in message order. */
static PyObject *many(PyObject *module, PyObject *args) {
    PyObject *given, *key_specs, *messages = NULL, *keys = NULL, *result = NULL;
    const char **data = NULL;
    Py_ssize_t *lengths = NULL, count;
    (void)module;

    if (!PyArg_ParseTuple(args, "OO:many", &given, &key_specs)) return NULL;
    keys = PySequence_Tuple(key_specs);
    /* A tuple of our own: the messages stay alive and unchanged while the GIL is off. */
    messages = keys == NULL ? NULL : PySequence_Tuple(given);
    if (messages == NULL) goto done;
    count = PyTuple_GET_SIZE(messages);
    if (allocate_spans(count, &data, &lengths) < 0) goto done;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *item = PyTuple_GET_ITEM(messages, i);
        if (!PyBytes_Check(item)) {
            PyErr_Format(PyExc_TypeError, "message %zd is %.100s, not bytes", i,
                         Py_TYPE(item)->tp_name);
            goto done;
        }
        data[i] = PyBytes_AS_STRING(item);
        lengths[i] = PyBytes_GET_SIZE(item);
    }
    result = hash_into_tuple(keys, data, lengths, count);
done:
    PyMem_Free(data);
    PyMem_Free(lengths);
    Py_XDECREF(messages);
    Py_XDECREF(keys);
    return result;
}

/* many_packed(offsets, data, keys) -> tuple of bytes
 *   offsets: a buffer of count + 1 native-endian int64 (an Arrow large_binary's
 *            offsets), rising, within data
 *   data: a buffer holding the messages one after another
 * The same digests as many(), with no Python object per message. */
static PyObject *many_packed(PyObject *module, PyObject *args) {
    Py_buffer offsets = {0}, data = {0};
    PyObject *key_specs, *keys = NULL, *result = NULL;
    const char **starts = NULL;
    Py_ssize_t *lengths = NULL, count;
    (void)module;

    if (!PyArg_ParseTuple(args, "y*y*O:many_packed", &offsets, &data, &key_specs)) return NULL;
    if (offsets.len < (Py_ssize_t)sizeof(int64_t) || offsets.len % sizeof(int64_t)) {
        PyErr_SetString(PyExc_ValueError, "offsets must be count + 1 int64 values");
        goto done;
    }
    count = offsets.len / (Py_ssize_t)sizeof(int64_t) - 1;
    keys = PySequence_Tuple(key_specs);
    if (keys == NULL || allocate_spans(count, &starts, &lengths) < 0) goto done;
    const int64_t *at = offsets.buf;
    for (Py_ssize_t i = 0; i < count; i++) {
        if (at[i] < 0 || at[i + 1] < at[i] || at[i + 1] > data.len) {
            PyErr_Format(PyExc_ValueError, "offset %zd is outside the data or falls", i + 1);
            goto done;
        }
        starts[i] = (const char *)data.buf + at[i];
        lengths[i] = (Py_ssize_t)(at[i + 1] - at[i]);
    }
    result = hash_into_tuple(keys, starts, lengths, count);
done:
    PyMem_Free(starts);
    PyMem_Free(lengths);
    Py_XDECREF(keys);
    PyBuffer_Release(&offsets);
    PyBuffer_Release(&data);
    return result;
}

static PyMethodDef methods[] = {
    {"many", many, METH_VARARGS,
     "many(messages, keys) -> tuple of bytes: for each (key, prefix, size) in keys, the "
     "HMAC-SHA256 of prefix + message under key, cut to size bytes, joined in order."},
    {"many_packed", many_packed, METH_VARARGS,
     "many_packed(offsets, data, keys) -> tuple of bytes: as many(), over messages packed "
     "in one buffer at count + 1 int64 offsets (an Arrow large_binary's buffers)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef definition = {
    PyModuleDef_HEAD_INIT, "catalog._hmac_batch",
    "HMAC-SHA256 of many messages in one C loop (see catalog.keyed_hash).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__hmac_batch(void) { return PyModule_Create(&definition); }
