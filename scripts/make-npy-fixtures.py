#!/usr/bin/env python3
"""Writes the small .npy fixtures of test/npy*.test.ts into test/fixtures/npy/ with numpy's own writer.

Run from the repository root: python3 scripts/make-npy-fixtures.py
The tests only read the committed output (they never need Python). manifest.json lists, per valid file,
the dtype the package should read, the shape and the values (as strings JavaScript's Number() parses
exactly: Python's shortest repr, 'NaN', 'Infinity', '-Infinity'); per malformed file, a fragment of the
expected error message.
"""
import io
import json
import math
import os

import numpy as np
from numpy.lib import format as npf

OUT = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'npy')
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(20240501)
manifest = {'valid': [], 'invalid': []}

NAMES = {'f8': 'float64', 'f4': 'float32', 'i1': 'int8', 'u1': 'uint8', 'i2': 'int16', 'u2': 'uint16',
         'i4': 'int32', 'u4': 'uint32', 'b1': 'uint8', 'i8': 'int64', 'u8': 'uint64'}


def text(v):
    if isinstance(v, (np.integer, int)) and not isinstance(v, (bool, np.bool_)):
        return str(int(v))  # exact: int64/uint64 values beyond 2^53 are compared as BigInts
    v = float(v)
    if math.isnan(v):
        return 'NaN'
    if math.isinf(v):
        return 'Infinity' if v > 0 else '-Infinity'
    return repr(v)


def save(name, arr, version=None):
    path = os.path.join(OUT, name)
    with open(path, 'wb') as f:
        npf.write_array(f, arr, version=version, allow_pickle=False)
    kind = arr.dtype.str[1:]
    manifest['valid'].append({
        'file': name,
        'dtype': NAMES[kind],
        'shape': list(arr.shape),
        'values': [text(v) for v in np.ravel(arr, order='C')],
    })


def sample(kind, shape):
    if kind in ('f8', 'f4'):
        a = rng.normal(size=shape) * 1e3
        flat = a.reshape(-1)
        specials = [np.nan, np.inf, -np.inf, -0.0, 1e-300 if kind == 'f8' else 1e-40]
        flat[:min(len(specials), flat.size)] = specials[:flat.size]
        return a
    if kind == 'b1':
        return rng.integers(0, 2, size=shape).astype(bool)
    info = np.iinfo(np.dtype(kind))
    # 64-bit bounds need the dtype argument; the older kinds keep their call (and so their values).
    wide = {'dtype': np.dtype(kind)} if kind[1] == '8' else {}
    a = rng.integers(info.min, info.max, size=shape, endpoint=True, **wide)
    flat = a.reshape(-1)
    flat[:2] = [info.min, info.max][:flat.size]
    return a


for kind in ['f8', 'f4', 'i1', 'u1', 'i2', 'u2', 'i4', 'u4', 'b1']:
    orders = ['<', '>'] if kind[1] != '1' else ['|']
    for order in orders:
        arr = sample(kind, (3, 4)).astype(np.dtype(order + kind))
        tag = {'<': 'le', '>': 'be', '|': 'na'}[order]
        save(f'{kind}_{tag}.npy', arr)

for version in [(1, 0), (2, 0), (3, 0)]:
    save(f'v{version[0]}_f8.npy', sample('f8', (2, 3)).astype('<f8'), version=version)

save('scalar_f8.npy', np.array(2.5))
save('scalar_i2_be.npy', np.array(-1234, dtype='>i2'))
save('empty_0x3_f4.npy', np.zeros((0, 3), dtype='<f4'))
save('empty_3x0_f8.npy', np.zeros((3, 0), dtype='<f8'))
save('vector_u2.npy', np.arange(5, dtype='<u2'))
save('rank3_i4_be.npy', sample('i4', (2, 3, 4)).astype('>i4'))
save('rank4_f4.npy', sample('f4', (2, 1, 3, 2)).astype('<f4'))
# A Fortran-ordered array whose memory layout equals C order (only one dimension > 1): readable.
save('fortran_trivial_f8.npy', np.asfortranarray(np.arange(4.0).reshape(4, 1)))

# int64/uint64 (numpy's default integer), extremes included, in both byte orders; after the others so
# their random values are unchanged.
for kind in ['i8', 'u8']:
    for order in ['<', '>']:
        arr = sample(kind, (3, 4)).astype(np.dtype(order + kind))
        save(f'{kind}_{"le" if order == "<" else "be"}.npy', arr)
save('int64.npy', np.ones(3, dtype='<i8'))
save('arange_i8.npy', np.arange(6))
# Values near ±2^63 and 2^64 - 1 for the fusion tests (two inputs of one shape).
save('near_limits_i8_a.npy', np.array([2**63 - 1, -2**63, 2**63 - 2, -2**63 + 1, 2**53 + 1, -1], dtype='<i8'))
save('near_limits_i8_b.npy', np.array([2**63 - 1, -2**63, 2**63 - 1, -2**63, 2**53, 2**62], dtype='>i8'))
save('near_limits_u8.npy', np.array([[2**64 - 1, 2**64 - 2, 2**63, 0], [1, 2**53 + 1, 2**64 - 1, 3]], dtype='<u8'))


def raw(name, data, fragment):
    with open(os.path.join(OUT, name), 'wb') as f:
        f.write(data)
    manifest['invalid'].append({'file': name, 'error': fragment})


def raw_valid(name, data, arr):
    """A file numpy's np.load reads as `arr` though its bytes are not write_array's (e.g. trailing bytes)."""
    with open(os.path.join(OUT, name), 'wb') as f:
        f.write(data)
    assert np.array_equal(np.load(os.path.join(OUT, name)), arr)
    manifest['valid'].append({'file': name, 'dtype': NAMES[arr.dtype.str[1:]], 'shape': list(arr.shape),
                              'values': [text(v) for v in np.ravel(arr, order='C')]})


def bytes_of(arr, version=None):
    b = io.BytesIO()
    npf.write_array(b, arr, version=version, allow_pickle=False)
    return b.getvalue()


good = bytes_of(np.arange(6.0).reshape(2, 3))
raw('bad_magic.npy', b'\x93NUMPZ' + good[6:], 'magic')
raw('bad_version.npy', good[:6] + bytes([4, 0]) + good[8:], 'version 4.0')
raw('truncated_data.npy', good[:-5], 'truncated data')
raw_valid('trailing_bytes.npy', good + b'\0' * 8, np.arange(6.0).reshape(2, 3))
raw('truncated_header.npy', good[:40], 'truncated header')
raw('empty_file.npy', b'', 'magic')
raw('fortran_2x3.npy', bytes_of(np.asfortranarray(np.ones((2, 3)))), 'Fortran')
raw('complex.npy', bytes_of(np.ones(3, dtype='<c16')), "unsupported dtype '<c16'")
raw('structured.npy', bytes_of(np.zeros(2, dtype=[('a', '<f8'), ('b', '<i4')])), 'structured')


def with_header(text):
    body = text.encode('latin1')
    pad = 64 - (10 + len(body) + 1) % 64
    body += b' ' * pad + b'\n'
    return b'\x93NUMPY\x01\x00' + len(body).to_bytes(2, 'little') + body


raw('not_dict.npy', with_header("['<f8', False, (2,)]") + b'\0' * 16, 'not a dict')
raw('missing_key.npy', with_header("{'descr': '<f8', 'shape': (2,)}") + b'\0' * 16, 'exactly the keys')
raw('bad_shape.npy', with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (2, -1)}") + b'\0' * 16,
    'non-negative')
raw('garbage_header.npy', with_header("{'descr': '<f8', 'fortran_order': Fals") + b'\0' * 16,
    'not a Python dict literal')

with open(os.path.join(OUT, 'manifest.json'), 'w') as f:
    json.dump(manifest, f, indent=1)
    f.write('\n')
print(f"wrote {len(manifest['valid'])} valid and {len(manifest['invalid'])} invalid fixtures to {OUT}")
