"""Point sets in files, for the command line: ``.npy``, ``.npz``, ``.csv`` and ``.txt`` in, the same
out, chosen by extension. Nothing is ever unpickled; every problem is an ``OSError`` or
``ValueError`` whose message names the file.
"""

from __future__ import annotations

import errno
import os
import warnings
import zipfile
from pathlib import Path
from typing import Optional, Union

import numpy as np

#: File extensions ``sample --data`` (and ``--weights``) reads, and those ``sample --out`` writes.
INPUT_FORMATS: tuple[str, ...] = (".npy", ".npz", ".csv", ".txt")
OUTPUT_FORMATS: tuple[str, ...] = (".npy", ".npz", ".csv", ".txt")

def _not_found(path: Path, what: str) -> FileNotFoundError:
    return FileNotFoundError(errno.ENOENT, f"{what} not found", str(path))


def _read_array(path: Union[str, os.PathLike[str]], key: Optional[str], key_option: Optional[str]) -> np.ndarray:
    """The array stored in ``path`` (.npy, .npz, .csv or .txt), never unpickling anything."""
    p = Path(path)
    ext = p.suffix.lower()
    if ext not in INPUT_FORMATS:
        raise ValueError(f"cannot read {p}: unknown format {ext or '(no extension)'!s}; "
                         f"use one of {', '.join(INPUT_FORMATS)}")
    if not p.exists():
        raise _not_found(p, "input file")
    if p.is_dir():
        raise IsADirectoryError(errno.EISDIR, "input is a folder, not a file", str(p))
    if key is not None and ext != ".npz":
        raise ValueError(f"{key_option} applies to .npz files only, not to {p}")
    try:
        if ext == ".npy":
            with open(p, "rb") as f:
                if f.read(6) != b"\x93NUMPY":
                    raise ValueError("not a NumPy .npy file")
            return np.load(p, allow_pickle=False)
        if ext == ".npz":
            if not zipfile.is_zipfile(p):
                raise ValueError("not a NumPy .npz file")
            with np.load(p, allow_pickle=False) as archive:
                names = list(archive.files)
                if not names:
                    raise ValueError("it holds no arrays")
                if key is None and len(names) > 1:
                    how = "give a file of one array" if key_option is None else f"choose one with {key_option}"
                    raise ValueError(f"it holds several arrays ({', '.join(names)}): {how}")
                if key is not None and key not in names:
                    raise ValueError(f"it has no array {key!r}; it holds {', '.join(names)}")
                return archive[names[0] if key is None else key]
        # text: comma-separated if the first line of data has a comma, else whitespace-separated
        with open(p, encoding="utf-8", errors="replace") as f:
            first = next((line for line in f if line.strip() and not line.lstrip().startswith("#")), "")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy warns on an empty file: the size check below says it better
            return np.loadtxt(p, delimiter="," if "," in first else None, ndmin=2, dtype=np.float64, comments="#")
    except (ValueError, EOFError, zipfile.BadZipFile) as exc:
        reason = str(exc)
        if "allow_pickle" in reason:  # an object array: reading it would mean unpickling
            reason = "it holds Python objects, which are never unpickled"
        elif ext in (".csv", ".txt"):
            reason = f"not a table of numbers ({reason}; a header line must start with #)"
        raise ValueError(f"cannot read {p}: {' '.join(reason.split())}") from exc


def load_points(path: Union[str, os.PathLike[str]], key: Optional[str] = None, *,
                key_option: Optional[str] = "--data-key") -> np.ndarray:
    r"""Read training points of shape (N, d) from a .npy, .npz, .csv or .txt file.

    Nothing is unpickled (``allow_pickle=False`` throughout). Text files are read with
    :func:`numpy.loadtxt`: comma-separated when their first line of data has a comma, else
    whitespace-separated; lines starting with ``#`` are comments.

    Parameters
    ----------
    path : str or os.PathLike
        The file; its extension gives the format.
    key : str, optional
        The array to take from a .npz file; required when it holds more than one.
    key_option : str, optional
        How the key is named in the error messages (the command-line option); None where no key
        can be given.

    Returns
    -------
    numpy.ndarray, shape (N, d)
        The points (float32 stays float32; integers become float64).

    Raises
    ------
    FileNotFoundError, IsADirectoryError
        If the file does not exist or is a folder.
    ValueError
        For an unknown extension, a file that is not of its format, an object array, a .npz file
        with several arrays and no ``key`` (or without ``key``), a non-numeric array, or one that is
        not 2-D with at least one row and column.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from ledkde_fast.cli import load_points
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = (Path(tmp) / "x.csv").write_text("# x, y\n0.5, 1\n2, 3\n")
    ...     load_points(Path(tmp) / "x.csv")
    array([[0.5, 1. ],
           [2. , 3. ]])
    """
    arr = _read_array(path, key, key_option)
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"cannot read {path}: it holds {arr.dtype} values, not real numbers")
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{path} must hold a 2-D array of points (N, d), got shape {arr.shape}")
    return arr if arr.dtype.kind == "f" else arr.astype(np.float64)


def load_weights(path: str) -> np.ndarray:
    """Point weights from a file: a single row or column of numbers."""
    arr = load_points(path, key_option=None)
    if min(arr.shape) != 1:
        raise ValueError(f"{path} must hold one row or one column of weights, got shape {arr.shape}")
    return arr.ravel()


def check_output(path: Union[str, os.PathLike[str]]) -> Path:
    """Check, before any work, that samples can be written to ``path``; return it as a Path.

    Parameters
    ----------
    path : str or os.PathLike
        The output file: its extension (.npy, .npz, .csv or .txt) gives the format.

    Returns
    -------
    pathlib.Path
        The path.

    Raises
    ------
    ValueError
        For an unknown extension.
    FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError
        If the folder does not exist or is not a folder, the path is a folder, or the folder is
        not writable.

    Examples
    --------
    >>> from ledkde_fast.cli import check_output
    >>> check_output("samples.csv").suffix
    '.csv'
    >>> check_output("samples.png")
    Traceback (most recent call last):
    ...
    ValueError: cannot write samples.png: unknown format .png; use one of .npy, .npz, .csv, .txt
    """
    p = Path(path)
    ext = p.suffix.lower()
    if ext not in OUTPUT_FORMATS:
        raise ValueError(f"cannot write {p}: unknown format {ext or '(no extension)'!s}; "
                         f"use one of {', '.join(OUTPUT_FORMATS)}")
    folder = p.parent
    if not folder.exists():
        raise _not_found(folder, "output folder")
    if not folder.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "output folder is not a folder", str(folder))
    if p.is_dir():
        raise IsADirectoryError(errno.EISDIR, "output is a folder, not a file", str(p))
    if not os.access(folder, os.W_OK):
        raise PermissionError(errno.EACCES, "output folder is not writable", str(folder))
    return p


def save_points(path: Union[str, os.PathLike[str]], points: np.ndarray) -> Path:
    """Write an array of points in the format of the extension of ``path``; return the file written.

    .npy and .npz (one array named ``samples``) keep the dtype exactly; .csv (comma-separated)
    and .txt (space-separated) write 17 significant digits, which read back to the same float64.
    The file is written at ``path`` exactly: NumPy's habit of appending ``.npy`` is avoided.

    Parameters
    ----------
    path : str or os.PathLike
        The output file (see :func:`check_output`).
    points : numpy.ndarray, shape (N, d)
        What to write.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ValueError, OSError
        As :func:`check_output`, or when writing fails.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from pathlib import Path
    >>> from ledkde_fast.cli import load_points, save_points
    >>> x = np.array([[0.1, 2.0], [3.0, -4.5]])
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     out = save_points(Path(tmp) / "s.npz", x)
    ...     bool(np.array_equal(load_points(out), x)), out.name
    (True, 's.npz')
    """
    p = check_output(path)
    ext = p.suffix.lower()
    if ext == ".npy":
        with open(p, "wb") as f:
            np.save(f, points)
    elif ext == ".npz":
        with open(p, "wb") as f:
            np.savez(f, samples=points)
    else:
        np.savetxt(p, points, fmt="%.17g", delimiter="," if ext == ".csv" else " ")
    return p


