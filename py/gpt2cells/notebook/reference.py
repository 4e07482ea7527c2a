"""The unedited model's values for the current prompt, and what an edit changed (issue #16).

`Reference(model, ids)` runs the engine's own steps (`steps.block`, the functions `Model.run` goes through)
once per prompt and model. Of each value it keeps a fingerprint (`fingerprint`: a few numbers per 128 values, hashed),
and of the whole pass only the residual stream entering each layer ([n_layer + 1] × [T, n_embd]): at 1024
tokens every layer's [n_head × T × T] arrays would not fit in the page's memory. A cell whose value has the
engine's fingerprint equals it, and costs one matrix–vector product to check; only a value that differs is
compared element by element. A short prompt's engine values are kept whole (within KEEP_BYTES); a long one's
layer is computed again from its resid_pre when a value of it differs (one layer at a time). So a new prompt
costs one extra pass through the blocks (the page shows the run first and checks it after), a later run of the
same prompt fingerprints alone, and an edit's Δ the layer the page shows (notebook.py compares another layer
when it is shown). A grid showing a layer whose cells are unedited takes the rows it shows from `rows`: at a
long prompt the block run on those positions alone, over every position's keys and values.

`compare(value, reference)` says how a cell's value differs from the engine's: equal within RELATIVE, the
largest |Δ| and its size relative to the reference's largest value, NaN/inf the edit brought in, or a
changed shape.
"""
from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from .. import steps
from ..kv_cache import KnownKeys
from ..matmul import matmul_nt

RELATIVE = 1e-5  # a value equals the engine's when max |Δ| ≤ RELATIVE × max |reference|
BLOCK_PREFIX = "blocks.{i}."
SEGMENT = 128  # values per fingerprint number: a sum of 128 stays precise to ~1e-7 of their size
# a block holding inf or nan is fingerprinted by its bits: 16-bit halves, 16 to a number, weighted by 1..16
# in a fixed order, so every sum is an integer below 2^24 (float32 holds it exactly: any one changed half
# changes it) and two halves swapped within a segment change it too
BITS_SEGMENT = 16
SMALL = 1 << 16  # values a fingerprint keeps as they are (their bytes): cheaper than a product, and exact
KEEP_BYTES = 128 << 20  # the engine's values of every layer are kept if they fit in this (a short prompt's do)
CHUNK = 1 << 20  # values compared at a time, so comparing [T × 50257] logits needs a few MB, not a GB
WINDOW_ROWS = 64  # a window of a layer's values (`Reference.rows`) covers whole blocks of this many positions
WINDOWS_KEPT = 3  # windows kept for the grids that ask again (GPT-2 medium at 1024 tokens: ~17 MB each)


def trace_names(trace: str | None) -> list[str]:
    """A cell's `trace` field ("blocks.{i}.attn.q, blocks.{i}.attn.k, ...") as a list of names."""
    return [name.strip() for name in (trace or "").split(",") if name.strip()]


@functools.lru_cache(maxsize=64)
def probe(n: int) -> np.ndarray:
    """[1, n] fixed random weights in [0.5, 1.5): the same every call, none near 0."""
    weights = np.random.default_rng(n).random((1, n), dtype=np.float32) + np.float32(0.5)  # [1, n]
    weights.flags.writeable = False
    return weights


@functools.lru_cache(maxsize=BITS_SEGMENT)
def integer_probe(n: int) -> np.ndarray:
    """[1, n ≤ BITS_SEGMENT] distinct integer weights from 1..BITS_SEGMENT (as float32), in a fixed order."""
    weights = (np.random.default_rng(n).permutation(BITS_SEGMENT)[:n] + 1).astype(np.float32).reshape(1, n)  # [1, n]
    weights.flags.writeable = False
    return weights


def projected(flat: np.ndarray, segment: int, weights) -> np.ndarray:
    """[1, ⌈N / segment⌉]: each segment of flat [N] dotted with weights(segment) (the rest with weights(rest))."""
    whole = flat.size - flat.size % segment
    parts = [matmul_nt(weights(segment), flat[:whole].reshape(-1, segment))]  # [1, N / segment]
    if whole < flat.size:
        parts.append(matmul_nt(weights(flat.size - whole), flat[whole:].reshape(1, -1)))  # [1, 1]: the rest
    return np.concatenate(parts, axis=1)  # [1, ⌈N / segment⌉]


def rows_per_block(n_cols: int) -> int:
    """Rows fingerprinted together: about CHUNK values, an even number (the SIMD kernel pairs rows, so a block
    of logits computed alone has the bits of the same rows computed with all the others)."""
    return max(2, CHUNK // n_cols // 2 * 2)


def fingerprint(array) -> bytes:
    """Bytes that arrays equal bit for bit share, and different ones do not (but for a change smaller than
    float32's rounding of a 128-value sum, far inside RELATIVE): the values, in blocks of rows, in segments of
    SEGMENT each projected on fixed random weights — matrix–vector products through the SIMD kernel. A block
    that holds inf or nan (masked scores), whose projection is not a number, is projected as its bits."""
    a = np.asarray(array, dtype=np.float32)
    if a.size <= SMALL:  # what `combined` makes of its blocks, without cutting them (a 10-token run has ~200 such)
        return a.tobytes()
    return combined(a.size, [block_fingerprint(block) for block in row_blocks(a)])


def row_blocks(a: np.ndarray) -> Iterator[np.ndarray]:
    """a's rows in blocks of about CHUNK values; a block never spans two matrices of a [..., R, C] array, so an
    [n_head, T, T] array's fingerprint can be made a head at a time (`Reference.layer`)."""
    matrices = a.reshape(-1, *a.shape[-2:]) if a.ndim > 2 else [a.reshape(-1, a.shape[-1])]  # [M, R, C]
    for rows in matrices:  # [R, C] (a copy only for a strided view of more than two axes)
        step = rows_per_block(rows.shape[1])
        for start in range(0, len(rows), step):
            yield rows[start:start + step]


def combined(size: int, block_prints: list[bytes]) -> bytes:
    """The fingerprint of `size` values from their blocks' fingerprints. Up to SMALL values are their own
    fingerprint (their bytes: cheaper than a product or a hash, and exact); more, their blocks' projections
    hashed into 16 bytes, so what is kept of every value of every layer is ~1 KB a layer (GPT-2 medium at 1024
    tokens: the projections themselves were ~30 MB for the engine's values and as much for the cells')."""
    if size <= SMALL:
        return b"".join(block_prints)
    hasher = hashlib.blake2b(digest_size=16)
    for block_print in block_prints:
        hasher.update(block_print)
    return hasher.digest()


def block_fingerprint(rows: np.ndarray) -> bytes:
    flat = rows.reshape(-1)  # [N]
    if flat.size <= SMALL:
        return flat.tobytes()
    with np.errstate(invalid="ignore", over="ignore"):  # inf or nan in the values: projected as bits below
        values = projected(flat, SEGMENT, probe)  # [1, ⌈N / SEGMENT⌉]
    if np.isfinite(values).all():
        return values.tobytes()
    # each float32 as two 16-bit integers, exact in float32: one pass over the block (telling inf and nan
    # apart value by value took five, and ~2.7x as long: every layer's masked scores come this way)
    halves = np.ascontiguousarray(flat).view(np.uint16).astype(np.float32)  # [2N]
    return b"bits" + projected(halves, BITS_SEGMENT, integer_probe).tobytes()


@dataclass
class Print:
    """A reference value's shape and fingerprint, and its fingerprints split along the last axis into equal
    parts (the qkv cell shows attn.qkv as q, k, v)."""
    shape: tuple
    whole: bytes
    parts: dict = field(default_factory=dict)  # number of parts -> [fingerprint of each part]


def shaped_prints(arrays: dict) -> list[tuple]:
    """(shape, fingerprint) of each of a cell's arrays ({tab: array}), in tab order."""
    return [(np.shape(array), fingerprint(array)) for array in arrays.values()]


class Reference:
    def __init__(self, model, ids, layer_names=(), splits=None, held=None):
        """layer_names: the block's trace names ("attn.pattern", ...) the cells show; splits: trace name -> the
        number of equal parts a cell shows it as ({"blocks.{i}.attn.qkv": 3}); held(i): arrays the cells hold
        that may be the residual stream entering block i (one equal to the engine's is kept instead of a copy)."""
        self.model = model
        self.held = held or (lambda index: [])
        self.layer_names = set(layer_names) | {"resid_post"}
        self.splits = dict(splits or {})
        self.ids = np.asarray(model.check_ids(list(ids)))  # [T]
        config, params = model.config, model.params
        tokens = steps.embed(params["wte.weight"], self.ids)  # [T, n_embd]
        self.resid = [tokens + steps.pos_embed(params["wpe.weight"], 0, len(self.ids))]  # resid_pre of layer 0
        self.n_layer = config.n_layer
        self.prints: dict[str, Print] = {}  # trace name with its layer ("blocks.3.attn.pattern") -> Print
        self.shown: tuple[int, dict] | None = None  # (layer, its recorded trace): the one layer kept whole
        self.kept: dict[int, dict] = {}  # layer -> its recorded trace, when every layer's fit in KEEP_BYTES
        self.kept_outside: dict[str, np.ndarray] = {}  # "logits", ... for a prompt whose layers are kept
        self.known: tuple | None = None  # (layer, every position's keys, values there): what windows attend over
        self.windows: dict[tuple[int, int, int], dict] = {}  # (layer, first, stop) -> that window's values, oldest first
        n_seq, n_head, n_embd = len(self.ids), config.n_head, config.n_embd
        # about the bytes of one layer's trace: three [n_head, T, T] attention arrays and some twenty rows of
        # n_embd per position (ln, q, k, v, z, outputs, residuals, the MLP's 2 × 4 · n_embd)
        self.layer_bytes = 4 * n_seq * (3 * n_head * n_seq + 20 * n_embd)

    @property
    def short(self) -> bool:
        """A prompt short enough that every layer's engine values (and the logits) are kept: within KEEP_BYTES."""
        return self.layer_bytes * self.n_layer <= KEEP_BYTES

    def matches(self, model, ids) -> bool:
        return model is self.model and ids is not None and np.array_equal(np.asarray(ids), self.ids)

    def layer(self, index: int, names) -> dict:
        """The trace names of block `index` ("attn.pattern", ...) the caller asks for, computed from the block's
        resid_pre; every name the cells show is fingerprinted the first time, as it is made. A layer's values
        are kept while every layer's fit in KEEP_BYTES (a short prompt: an edit's Δ then costs no pass through
        the blocks); else only the layer asked for, until the next one. Blocks before it are computed first,
        once, keeping only their output."""
        if index in self.kept:
            return self.kept[index]
        wanted = set(names) | {"resid_post"}
        if self.shown is not None and self.shown[0] == index and wanted <= set(self.shown[1]):
            return self.shown[1]
        config, params = self.model.config, self.model.params
        while len(self.resid) <= index:
            self.layer(len(self.resid) - 1, ())
        self.shown = None  # let the previous layer's arrays go before this one's are made
        keep_all = self.short
        recorded: dict = {}

        def record(name, value):
            if name in self.layer_names:
                self.remember(BLOCK_PREFIX + name, index, lambda: value)
                if keep_all or name in wanted:
                    recorded[name] = value
            return value

        record.keeps = lambda name: name in self.layer_names and (keep_all or name in wanted)  # printed as made
        # when only the fingerprints are wanted (the check), attention runs a head at a time and its arrays are
        # printed so (their heads' block prints, as `fingerprint` takes a whole one's): one head's [T × T] in
        # memory, not every head's (GPT-2 medium at 1024 tokens: 4 MB, not 64)
        head_prints: dict[str, list[bytes]] = {}  # trace name -> its block prints, head after head
        head_shapes: dict[str, tuple] = {}
        prefix = BLOCK_PREFIX.replace("{i}", str(index))

        def head_record(name, value):  # value: one head's [1, n_q, n_k]
            if name in self.layer_names and prefix + name not in self.prints:
                head_prints.setdefault(name, []).extend(block_fingerprint(block) for block in row_blocks(value))
                head_shapes[name] = (config.n_head, *value.shape[1:])
            return value

        head_record.keeps = lambda name: False
        record.by_head = not keep_all and wanted == {"resid_post"}
        record.head = lambda h: head_record
        steps.block(self.resid[index], steps.block_params(params, index), config.n_head, config.layer_norm_epsilon,
                    layer=index, record=record)
        for name, prints in head_prints.items():
            shape = head_shapes[name]
            self.prints[prefix + name] = Print(shape, combined(math.prod(shape), prints))
        if len(self.resid) == index + 1:
            self.resid.append(self.shared(index + 1, recorded["resid_post"]))  # [T, n_embd]
        if keep_all:
            self.kept[index] = recorded
        else:
            self.shown = (index, {name: recorded[name] for name in recorded if name in wanted})
        return recorded

    def entering(self, index: int) -> np.ndarray:
        """resid_pre of block index [T, n_embd]: the engine's once made; before that the cells' own (`held`),
        which is the engine's when no cell before the block's is edited (the notebook asks only then)."""
        if index < len(self.resid):
            return self.resid[index]
        shape = (len(self.ids), self.model.config.n_embd)
        for array in self.held(index):
            if array.shape == shape and array.dtype == np.float32:
                return array
        self.layer(index - 1, ())  # makes every block's output up to it
        return self.resid[index]

    def rows(self, index: int, r0: int, r1: int, resid_pre: np.ndarray) -> tuple[int, dict]:
        """(first, values): block `index`'s values of the names the cells show at positions [first, stop), a
        window around [r0, r1), from the block's input resid_pre [T, n_embd]: steps.block run on those positions
        alone, attending over every position's keys and values (KnownKeys, made once per layer). What a grid
        shows of a layer at 1024 tokens then costs the layer's keys and values and a window's worth of the
        rest, not the layer (GPT-2 small: ~0.12 s, not ~0.5). Where matmul.ROWS_ALONE_EXACT, the values are bit
        for bit those rows of the whole pass's: each row is the same sums in the same order (softmax's rows are
        as long as the pass's; a window holds two positions or more: one row takes the kernel's one-row path, whose
        sums run in another order)."""
        n_seq = len(self.ids)
        first, stop = r0 // WINDOW_ROWS * WINDOW_ROWS, min(n_seq, -(-r1 // WINDOW_ROWS) * WINDOW_ROWS)
        if stop - first == 1:  # a single position would take the kernel's one-row path (decoding's): take two
            first = max(0, first - 2)
        if index in self.kept:
            return first, {name: value[..., first:stop, :] for name, value in self.kept[index].items()}
        key = (index, first, stop)
        if key not in self.windows:
            config, params = self.model.config, self.model.params
            w = steps.block_params(params, index)
            if self.known is None or self.known[0] != index:
                self.known = None  # the last layer's keys go before this one's are made
                self.known = (index, *steps.keys_values(resid_pre, w, config.n_head, config.layer_norm_epsilon))
            _, keys, values = self.known
            recorded: dict = {}

            def record(name, value):
                if name in self.layer_names:
                    recorded[name] = value
                return value

            record.keeps = lambda name: name in self.layer_names
            steps.block(resid_pre[first:stop], w, config.n_head, config.layer_norm_epsilon,
                        cache=KnownKeys(first, keys, values), layer=index, record=record)
            while len(self.windows) >= WINDOWS_KEPT:
                del self.windows[next(iter(self.windows))]
            self.windows[key] = recorded
        self.windows[key] = self.windows.pop(key)  # now the newest
        return first, self.windows[key]

    def shared(self, index: int, resid: np.ndarray) -> np.ndarray:
        """resid, or the cells' own array equal to it bit for bit (their residual stream entering block index,
        as an unedited run has it): one copy kept, not two (GPT-2 medium at 1024 tokens: 96 MB)."""
        for array in self.held(index):
            if array.shape == resid.shape and array.dtype == resid.dtype and np.array_equal(array, resid):
                return array
        return resid

    def remember(self, name: str, layer: int, value_of) -> Print:
        """The Print of a trace name at a layer, made from value_of() the first time it is asked for."""
        key = name.replace("{i}", str(layer))
        if key not in self.prints:
            value = value_of()
            parts = {n: [fingerprint(part) for part in np.split(value, n, axis=-1)]
                     for n in [self.splits.get(name)] if n and value.shape[-1] % n == 0}
            self.prints[key] = Print(value.shape, fingerprint(value), parts)
        return self.prints[key]

    def print_of(self, name: str, layer: int) -> Print:
        if name.startswith(BLOCK_PREFIX):
            if name.replace("{i}", str(layer)) not in self.prints:
                self.layer(layer, ())
            return self.prints[name.replace("{i}", str(layer))]
        if name == "logits" and name not in self.prints and not self.short:
            self.prints[name] = self.logits_print()
        return self.remember(name, 0, lambda: self.outside_blocks(name))

    def logits_print(self) -> Print:
        """The logits' Print, computed a block of rows at a time: never the whole [T × n_vocab] at once."""
        logits = LogitRows(self.outside_blocks("ln_final.out"), self.model.params["wte.weight"])
        return Print(logits.shape, combined(math.prod(logits.shape), [block_fingerprint(rows) for _, rows in logits.blocks()]))

    def has(self, names: list[str], layer: int) -> bool:
        """Whether the engine's fingerprints of these trace names at this layer are made already."""
        return all(name.replace("{i}", str(layer)) in self.prints for name in names)

    def same(self, names: list[str], layer: int, cell_prints: list) -> bool:
        """Whether a cell's arrays (`shaped_prints` of them) equal the engine's values for its trace names bit
        for bit (their fingerprints do), matched as match_tabs matches them. False means: compare them in full."""
        prints = [self.print_of(name, layer) for name in names]
        if len(cell_prints) == len(prints):
            expected = [(p.shape, p.whole) for p in prints]
        elif len(prints) == 1 and len(cell_prints) in prints[0].parts:
            shape = (*prints[0].shape[:-1], prints[0].shape[-1] // len(cell_prints))
            expected = [(shape, part) for part in prints[0].parts[len(cell_prints)]]
        else:
            return False
        return list(cell_prints) == expected

    def forget_layer(self) -> None:
        """Let the layer kept whole go (its [n_head × T × T] arrays); it is computed again when asked for."""
        self.shown = None

    def forget_windows(self) -> None:
        """Let the windows kept for the grids go, and the keys they were made with: made again when asked for."""
        self.windows.clear()
        self.known = None

    def values(self, names: list[str], layer: int = 0) -> list[np.ndarray]:
        """The engine's arrays for trace names ({i} = layer), in the order asked."""
        block = [n[len(BLOCK_PREFIX):] for n in names if n.startswith(BLOCK_PREFIX)]
        recorded = self.layer(layer, self.layer_names | set(block)) if block else {}  # one pass for all its cells
        return [recorded[n[len(BLOCK_PREFIX):]] if n.startswith(BLOCK_PREFIX) else self.outside_blocks(n) for n in names]

    def outside_blocks(self, name: str) -> np.ndarray:
        """The engine's value of a trace name outside the blocks; kept, like the layers', for a short prompt."""
        if name in self.kept_outside:
            return self.kept_outside[name]
        if name == "logits" and not self.short:  # [T, n_vocab]: 200 MB at 1024 tokens, made a block of rows at a time
            return LogitRows(self.outside_blocks("ln_final.out"), self.model.params["wte.weight"])
        value = self.compute_outside_blocks(name)
        if self.short:
            self.kept_outside[name] = value
        return value

    def compute_outside_blocks(self, name: str) -> np.ndarray:
        params, eps = self.model.params, self.model.config.layer_norm_epsilon
        if name == "embed":
            return steps.embed(params["wte.weight"], self.ids)  # [T, n_embd]
        if name == "pos_embed":
            return steps.pos_embed(params["wpe.weight"], 0, len(self.ids))  # [T, n_embd]
        if name == "blocks.0.resid_pre":
            return self.resid[0]
        if name in ("ln_final.out", "logits"):
            if len(self.resid) <= self.n_layer:
                self.layer(self.n_layer - 1, ())
            final = steps.scale_shift(steps.normalize(self.resid[self.n_layer], eps), params["ln_f.weight"], params["ln_f.bias"])
            return final if name == "ln_final.out" else steps.unembed(final, params["wte.weight"])  # [T, n_vocab]
        raise KeyError(f"no reference for trace name {name!r}")

    @functools.cached_property
    def last_probs(self) -> np.ndarray:
        """The unedited model's next-token probabilities after the prompt: [n_vocab]."""
        params, eps = self.model.params, self.model.config.layer_norm_epsilon
        if len(self.resid) <= self.n_layer:
            self.layer(self.n_layer - 1, ())
        last = steps.scale_shift(steps.normalize(self.resid[self.n_layer][-1:], eps), params["ln_f.weight"], params["ln_f.bias"])
        return steps.softmax(steps.unembed(last, params["wte.weight"])[0])  # [n_vocab]


def match_tabs(shapes: dict, references: list) -> dict | None:
    """The reference array for each of a cell's tabs ({tab: its array's shape}): one trace name per tab, or one
    trace split along its last axis into the tabs (the qkv cell shows [T, 3·n_embd] as q, k, v). None: no match."""
    names = list(shapes)
    if len(references) == len(names):
        return dict(zip(names, references))
    if len(references) == 1 and len(names) > 1:
        widths = [shapes[n][-1] for n in names]
        reference = references[0]
        if sum(widths) == reference.shape[-1]:
            parts = np.split(reference, np.cumsum(widths)[:-1], axis=-1)
            return dict(zip(names, parts))
    return None


class LogitRows:
    """The engine's [T, n_vocab] logits, unembedded a block of rows at a time as they are read, never whole."""

    def __init__(self, final: np.ndarray, wte: np.ndarray):
        self.final, self.wte = final, wte  # [T, n_embd], [n_vocab, n_embd]
        self.shape = (len(final), wte.shape[0])

    def rows(self, start: int, stop: int) -> np.ndarray:
        return steps.unembed(self.final[start:stop], self.wte)  # [stop − start, n_vocab]

    def blocks(self) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, rows) in blocks of rows_per_block rows: the blocks `fingerprint` takes a whole array in."""
        step = rows_per_block(self.shape[1])
        for start in range(0, self.shape[0], step):
            yield start, self.rows(start, start + step)  # [≤ step, n_vocab]


def chunk_pairs(value: np.ndarray, reference) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(value, reference) pieces of about CHUNK values each, flat; a LogitRows reference a block of rows at a time."""
    if isinstance(reference, LogitRows):
        for start, rows in reference.blocks():
            yield value[start:start + len(rows)].reshape(-1), rows.reshape(-1)
        return
    flat_value, flat_reference = value.reshape(-1), reference.reshape(-1)  # [N] each
    for start in range(0, flat_value.size, CHUNK):
        yield flat_value[start:start + CHUNK], flat_reference[start:start + CHUNK]


def compare(value: np.ndarray, reference) -> dict:
    """How value differs from the engine's reference (an array, or LogitRows): {"shape": [ref shape, value
    shape]} when the shapes differ; else {"max_abs", "relative", "equal", "nan", "inf"} where nan/inf count the
    non-finite values the reference has not at those places (both −inf, as masked scores are, is no difference).
    CHUNK values at a time, so the comparison's temporaries stay small."""
    value = np.asarray(value)
    if value.shape != tuple(reference.shape):
        return {"shape": [list(reference.shape), list(value.shape)]}
    max_abs, scale, n_nan, n_brought, reference_only = 0.0, 0.0, 0, 0, False
    for value_chunk, chunk in chunk_pairs(value, reference):
        value32 = value_chunk.astype(np.float32, copy=False)  # [≤ CHUNK]
        with np.errstate(invalid="ignore", over="ignore"):
            delta = np.abs(np.subtract(value32, chunk, dtype=np.float32))  # [≤ CHUNK]
        largest = float(delta.max())
        if math.isfinite(largest):  # both finite everywhere (the usual case): four passes, not fifteen
            max_abs = max(max_abs, largest)
            scale = max(scale, abs(float(chunk.max())), abs(float(chunk.min())))
            continue
        same_place = (value32 == chunk) | (np.isnan(value32) & np.isnan(chunk))  # incl. equal infinities
        brought = ~same_place & ~np.isfinite(value32)  # non-finite where the reference is not the same
        n_nan += int(np.count_nonzero(brought & np.isnan(value32)))
        n_brought += int(np.count_nonzero(brought))
        reference_only |= bool(np.any(~same_place & ~np.isfinite(chunk)))
        with np.errstate(invalid="ignore", over="ignore"):
            delta = np.where(same_place, np.float32(0), np.abs(value32 - chunk))  # [≤ CHUNK]
        finite_delta = delta[np.isfinite(delta)]
        max_abs = max(max_abs, float(finite_delta.max()) if finite_delta.size else 0.0)
        finite_reference = np.abs(chunk[np.isfinite(chunk)])
        scale = max(scale, float(finite_reference.max()) if finite_reference.size else 0.0)
    n_inf = n_brought - n_nan
    relative = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else None)  # None: the reference is all 0
    equal = relative is not None and relative <= RELATIVE and n_brought == 0 and not reference_only
    return {"max_abs": max_abs, "relative": relative, "equal": bool(equal), "nan": n_nan, "inf": n_inf}


EQUAL = {"max_abs": 0.0, "relative": 0.0, "equal": True, "nan": 0, "inf": 0}  # compare()'s result for a value
# with the engine's fingerprint


def combine(results: list[dict]) -> dict:
    """One mark for a cell's tabs: the worst of them (a changed shape wins)."""
    for result in results:
        if "shape" in result:
            return result
    return {"max_abs": max(r["max_abs"] for r in results),
            "relative": None if any(r["relative"] is None for r in results) else max(r["relative"] for r in results),
            "equal": all(r["equal"] for r in results),
            "nan": sum(r["nan"] for r in results),
            "inf": sum(r["inf"] for r in results)}


def difference(value: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """value − reference, 0 where both hold the same non-finite value (−inf masked scores)."""
    value32 = np.asarray(value, dtype=np.float32)
    with np.errstate(invalid="ignore", over="ignore"):
        return np.where(value32 == reference, np.float32(0), value32 - reference).astype(np.float32)  # [...]


def prediction_change(before: np.ndarray, after: np.ndarray, decode, k: int = 5) -> dict:
    """The prediction before → after an edit: the top-k tokens after, with both probabilities, and the old
    top token with its new rank (1 = still first)."""
    old_top = int(np.argmax(before))
    order_after = np.argsort(-after, kind="stable")  # [n_vocab] most likely first
    rank = int(np.flatnonzero(order_after == old_top)[0]) + 1

    def entry(token_id):
        return {"id": int(token_id), "text": decode([int(token_id)]),
                "before": float(before[token_id]), "after": float(after[token_id])}

    return {"top": [entry(i) for i in order_after[:k]], "old_top": {**entry(old_top), "rank_after": rank},
            "changed": not compare(after, before)["equal"]}
