"""rankopt: optimize, check and score ranking models (DIN, ESMM, DeepFM, ...) on CPUs from Python.

The same library as the ``rankopt`` command and the C++ API::

    import rankopt
    print(rankopt.summarize("din.onnx")["ops"])
    result = rankopt.optimize("din.onnx", features="configs/din.yaml", out="din.rkp")
    model = rankopt.Model(result.package)
    scores = model.score({"user": {...}, "context": {...}, "candidates": [{...}, ...]})
    outputs = model.run({"user_id": np.array([...], dtype=np.int64), ...})

Every failure raises :class:`rankopt.Error` carrying the library's message (the file, node,
feature or flag at fault and what was expected). Scoring releases the GIL, so Python threads score
in parallel; the numpy arrays returned own the library's buffers (no copy).
"""
import os as _os
import tempfile as _tempfile

from . import _native
from ._native import Error, __version__

__all__ = ["Error", "Model", "ModelManager", "Optimized", "optimize", "prune", "summarize",
           "__version__"]

Error.__doc__ = ("A rankopt library error: str(error) is the library's message (what is wrong, "
                 "where, and what was expected).")
Error.__module__ = "rankopt"


def _path(value, what):
    if isinstance(value, (str, bytes, _os.PathLike)):
        return _os.fsdecode(value)
    raise Error(f"{what}: expected a path (str or os.PathLike), got {type(value).__name__}")


def _names(value, what):
    if value is None:
        return []
    if isinstance(value, str):
        return [v for v in value.split(",") if v]
    try:
        names = list(value)
    except TypeError:
        raise Error(f"{what}: expected a list of names, got {type(value).__name__}") from None
    for name in names:
        if not isinstance(name, str):
            raise Error(f"{what}: expected names (str), got {type(name).__name__}")
    return names


def summarize(path):
    """Summarizes a model: what ``rankopt summarize MODEL --json`` prints, as dicts and lists.

    Inputs (with SavedModel signatures), outputs, op types with counts, constants, parameters and
    bytes, variables, control edges, FLOPs per example and the op types rankopt cannot run yet.

    Args:
        path: a TensorFlow GraphDef (.pb/.pbtxt), a SavedModel directory or an ONNX file.

    Returns:
        dict: the summary (the fields of ``rankopt summarize --json``; 64-bit counts as int).

    Raises:
        Error: the model does not load (the message names the file and what is wrong).
    """
    return _native.summarize(_path(path, "path"))


def prune(path, outputs, inputs=None, out=None):
    """Keeps exactly what the named outputs need: ``rankopt prune MODEL --outputs ... -o OUT``.

    Cuts everything upstream of ``inputs``, rewires Identity chains and drops NoOp, Assert,
    CheckNumerics and save/restore/training nodes nothing needs. ``out`` has the model's format (a
    SavedModel is written as a directory with its variables frozen).

    Args:
        path: the model (GraphDef, SavedModel directory or ONNX file).
        outputs: tensors to keep (list or comma-separated str): node, node:port, ONNX tensor or
            signature output key.
        inputs: tensors that become graph inputs (optional).
        out: where to write the pruned model (required; never the input model itself).

    Returns:
        dict: the prune pass's report: ``nodes_before``, ``nodes_after``, ``params_before``,
        ``params_after``, ``ops_before``/``ops_after`` (op type -> count), ``notes``, ``changed``,
        ``out``, ``format`` and ``text`` (the table ``rankopt prune`` prints).

    Raises:
        Error: a bad model, an unknown output or input name, ``out`` naming the input, a failed
        write.
    """
    if out is None:
        raise Error("out: where to write the pruned model is required (it is never the input)")
    return _native.prune(_path(path, "path"), _names(outputs, "outputs"),
                         _names(inputs, "inputs"), _path(out, "out"))


class Optimized:
    """What :func:`optimize` made: the package written and its report.

    Attributes:
        package (str): the model package's path (load it with :class:`Model`).
        report (dict): the optimize report, the same data as ``rankopt optimize --json`` (the
            machine; per pass its status, nodes/params/bytes and latency before and after; the
            int8 step; overall) with 64-bit counts as int.
        text (str): the report as the table ``rankopt optimize`` prints.
    """

    def __init__(self, package, report, text):
        self.package = package
        self.report = report
        self.text = text

    def __repr__(self):
        overall = self.report.get("overall", {})
        return (f"Optimized(package={self.package!r}, speedup={overall.get('speedup', 0):.2f}, "
                f"nodes {overall.get('nodes_before')} -> {overall.get('nodes_after')})")

    def __str__(self):
        return self.text


_LEVELS = {0: "0", 1: "1", 2: "2", "0": "0", "1": "1", "2": "2", "O0": "0", "O1": "1", "O2": "2"}


def optimize(model, features=None, sample=None, outputs=None, level=2, precision="auto",
             int8="auto", out=None, name=None, version="1", candidates=0, threads=1,
             time_s=0.15):
    # The docstring is set below from the command's own --help text.
    if not isinstance(precision, str):
        raise Error(f"precision: expected 'auto', 'fp32', 'bf16' or 'int8', got {precision!r}")
    if level not in _LEVELS:
        raise Error(f"level: '{level}' is not an optimization level (0, 1 or 2)")
    if not isinstance(int8, str):
        raise Error(f"int8: expected 'auto', 'off' or 'force', got {int8!r}")
    model_path = _path(model, "model")
    if out is None:
        out = _os.path.join(_tempfile.mkdtemp(prefix="rankopt-"),
                            _native.default_model_name(model_path) + ".rkp")
    sample_path = ""
    sample_file = None
    if sample is not None:
        if isinstance(sample, (str, bytes, _os.PathLike)) and not (
                isinstance(sample, str) and sample.lstrip().startswith("{")):
            sample_path = _path(sample, "sample")
        else:
            # Request dicts (or JSON texts): written as JSON lines for the library.
            lines = _native.requests_to_json_lines(sample)
            fd, sample_file = _tempfile.mkstemp(prefix="rankopt-sample-", suffix=".jsonl")
            with _os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(lines)
            sample_path = sample_file
    try:
        report, text = _native.optimize(
            model_path, "" if features is None else _path(features, "features"), _path(out, "out"),
            sample_path, _names(outputs, "outputs"), _LEVELS[level], int8, precision, name or "", str(version),
            int(candidates), int(threads), float(time_s))
    finally:
        if sample_file is not None:
            _os.unlink(sample_file)
    return Optimized(_os.fsdecode(out), report, text)


optimize.__doc__ = f"""Optimizes a model into a model package; returns :class:`Optimized`.

Python's form of ``rankopt optimize`` (its help follows). Arguments map to the flags:
``features`` = --features (None: a TF model's own feature transforms are lifted), ``out`` = -o (default: a new temporary directory),
``outputs`` = --outputs, ``level`` = -O (0, 1, 2), ``int8`` = --int8, ``sample`` = --sample (a
JSON-lines path, or request dicts as :meth:`Model.score` takes), ``candidates`` = --candidates,
``name`` = --name, ``version`` = --model-version, ``threads`` = --threads, ``time_s`` = --time-s.
``precision`` = --precision ('auto', 'fp32', 'bf16' or 'int8': the dense layers).

Raises:
    Error: the library's message (bad model, config, sample or flag value; a failed write).

{_native.optimize_help()}"""


class Model:
    """A loaded model: a package (score and run) or a model file (run only).

    Args:
        package_or_model: a model package from :func:`optimize` (``.rkp``, recognised by its
            first bytes), or a GraphDef/SavedModel/ONNX file (graph-level :meth:`run` only).
        threads: threads that score the candidate chunks of one request (the caller's included).
        user_cache_mb: the user-side result cache's budget in MiB (0: off); scores are bitwise
            equal with it on or off.
        item_cache_mb: the item cache's budget in MiB (0: off).
        outputs: for a model file, the tensors :meth:`run` computes (default: its outputs).
        max_candidates: requests with more candidates are rejected.
        chunk_rows: candidate rows per chunk (0: automatic).
        warm_up: run the package's warm-up requests before returning.
        verify_checksums: verify every blob's checksum at load.

    Safe to use from many Python threads at once: :meth:`score` and :meth:`run` release the GIL.

    Raises:
        Error: the file does not exist or does not load (a corrupt package names what is wrong).
    """

    def __init__(self, package_or_model, threads=1, user_cache_mb=0, item_cache_mb=0,
                 outputs=None, max_candidates=100000, chunk_rows=0, warm_up=True,
                 verify_checksums=True):
        if isinstance(package_or_model, _native.Model):
            self._m = package_or_model
            return
        self._m = _native.Model(_path(package_or_model, "package_or_model"),
                                _names(outputs, "outputs"), int(threads), int(user_cache_mb),
                                int(item_cache_mb), int(max_candidates), int(chunk_rows),
                                bool(warm_up), bool(verify_checksums))

    def __repr__(self):
        kind = f"package {self.name} v{self.version}" if self.is_package else "model file"
        return f"rankopt.Model({self.path!r}: {kind}, heads={self.heads})"

    @property
    def path(self):
        """The file this model was loaded from."""
        return self._m.path

    @property
    def is_package(self):
        """True for a model package (scores requests), False for a model file (run only)."""
        return self._m.is_package

    @property
    def name(self):
        """The package's model name (None for a model file)."""
        return self._m.name

    @property
    def version(self):
        """The package's model version (None for a model file)."""
        return self._m.version

    @property
    def heads(self):
        """The output heads :meth:`score` returns, in package order (a model file: its outputs)."""
        return self._m.heads

    @property
    def inputs(self):
        """The graph inputs :meth:`run` takes: a list of {"name", "dtype", "shape"}; a shape is a
        tuple with None for dims of any size (None for a shape of any rank)."""
        return self._m.inputs

    @property
    def outputs(self):
        """The tensors :meth:`run` returns, in order."""
        return self._m.outputs

    def score(self, request, heads=None):
        """Scores raw feature requests through the package's feature config and optimized graph.

        Args:
            request: one request ``{"user": {...}, "context": {...}, "candidates": [{...}, ...]}``
                (sections optional; values int, float, str/bytes, None = missing, or a list or
                1-D array of one kind), its JSON text, or a list of requests.
            heads: output heads to return (default: all).

        Returns:
            dict: head -> float32 numpy array with one score per candidate (for a list of
            requests: every request's candidates in order).

        Raises:
            Error: a bad request (the message names the place, e.g. "candidates[3].price"), too
            many candidates, an unknown head; a model file (optimize it into a package first).
        """
        return self._m.score(request, _names(heads, "heads"))

    def run(self, feeds):
        """Runs the graph on graph-level inputs, as ``rankopt run MODEL --inputs`` does.

        Args:
            feeds: {input name: numpy array} for every input in :attr:`inputs`; dtypes and shapes
                are checked against the graph (C-contiguous arrays are read in place).

        Returns:
            dict: output name -> numpy array owning the library's result buffer.

        The graph runs whole on the calling thread, as the command runs it, so the outputs are
        bitwise those of ``rankopt run``. For a package, the first call to :meth:`run`,
        :attr:`inputs` or :attr:`outputs` loads the package's graph once more for this.

        Raises:
            Error: a missing or unknown feed, a wrong dtype or shape, a kernel error.
        """
        if not isinstance(feeds, dict):
            raise Error(f"feeds: expected a dict of input name -> numpy array, got "
                        f"{type(feeds).__name__}")
        return self._m.run(feeds)

    def stats(self):
        """Counters of this model's score calls: requests, candidates, errors, latency (sum and
        cumulative buckets), per-feature defaults and out-of-range ids, caches, and the
        Prometheus text. Empty for a model file."""
        return self._m.stats()


class ModelManager:
    """Serves the newest valid version under ``root/<version>/model.rkp`` (like TF Serving).

    A newer version is loaded and warmed up in the background (every ``poll_s`` seconds; 0: only
    on :meth:`reload`) and swapped in atomically; a version that fails to load is rejected and
    the current one keeps serving.

    Raises:
        Error: no version under ``root`` loads (each rejected version's error is in the message).
    """

    def __init__(self, root, poll_s=10, threads=1, user_cache_mb=0, item_cache_mb=0):
        self._mm = _native.ModelManager(_path(root, "root"), float(poll_s), int(threads),
                                        int(user_cache_mb), int(item_cache_mb))

    def current(self):
        """The serving version as a :class:`Model`; hold it for one request (or a batch)."""
        return Model(self._mm.current())

    def reload(self):
        """Scans ``root`` now and swaps in a newer version if one loads; raises Error when the
        newest untried version was rejected (the old version keeps serving)."""
        self._mm.reload()

    def counters(self):
        """{"loads", "rejected", "current_version", "last_error"}."""
        return self._mm.counters()
