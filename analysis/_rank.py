"""The rank R's ``qr(x, tol)`` reports (LINPACK ``dqrdc2``), for replicate degrees of freedom.

R's ``degf()`` of a replicate design is ``qr(weights, tol = 1e-5)$rank - 1``. ``dqrdc2`` is a
Householder QR with limited pivoting: a column whose remaining norm falls below ``tol`` times
its original norm is moved to the end and no longer counts. Its rank differs from an SVD
rank on the nearly dependent replicate weights of post-stratified or domain designs, so the
algorithm is followed step by step (norms downdated as in the Fortran).
"""
from __future__ import annotations

import numpy as np

SAFETY = 100.0  # LAPACK shortcut only when every column is this far above dqrdc2's threshold


def qr_rank(matrix: np.ndarray, tol: float = 1e-5) -> int:
    """Rank of ``matrix`` as R's ``qr(matrix, tol = tol)$rank`` (LINPACK dqrdc2).

    Until a column comes near the threshold dqrdc2 moves no column and is a plain Householder
    QR, so LAPACK's QR handles the leading columns and the algorithm runs step by step only
    from the first column that might be moved, on what is left of the others.
    """
    import scipy.linalg  # here: only replicate designs need it, so plain runs skip its import

    x = np.array(matrix, dtype=float, copy=True)
    n, p = x.shape
    if n == 0 or p == 0:
        return 0
    m = min(n, p)
    norms = np.linalg.norm(x, axis=0)
    q, r = scipy.linalg.qr(x, mode="economic", check_finite=False)
    near = np.flatnonzero((np.abs(np.diag(r)[:m]) < SAFETY * tol * norms[:m]) | (norms[:m] == 0))
    if near.size == 0:
        return m
    first = int(near[0])
    if first == 0:
        return _dqrdc2(x, norms, tol, n)
    basis = q[:, :first]  # spans the first columns: Householder QR without pivoting
    rest = x[:, first:] - basis @ (basis.T @ x[:, first:])
    return first + _dqrdc2(rest, norms[first:], tol, n - first)


def _dqrdc2(matrix: np.ndarray, original_norms: np.ndarray, tol: float, max_rank: int) -> int:
    """dqrdc2's rank of ``matrix`` whose columns had ``original_norms`` before any reduction
    (at most ``max_rank``: the dimension left to the columns)."""
    x = np.array(matrix, dtype=float, order="F", copy=True)
    n, p = x.shape
    if n == 0 or p == 0:
        return 0
    qraux = np.linalg.norm(x, axis=0)
    work1 = qraux.copy()
    work2 = np.where(original_norms == 0, 1.0, original_norms)
    k = p + 1
    for l in range(min(n, p)):
        # a column whose norm fell below tol x its original norm moves to the end
        while not (l + 1 >= k or qraux[l] >= work2[l] * tol):
            for arr in (qraux, work1, work2):
                arr[l:] = np.roll(arr[l:], -1)
            x[:, l:] = np.roll(x[:, l:], -1, axis=1)
            k -= 1
        if l == n - 1:
            continue
        column = x[l:, l]
        norm = np.linalg.norm(column)
        if norm == 0:
            continue
        if column[0] != 0:
            norm = np.copysign(norm, column[0])
        column /= norm
        column[0] += 1.0
        if l + 1 < p:
            rest = x[l:, l + 1:]
            rest += np.outer(column, -(column @ rest) / column[0])
            q, w1 = qraux[l + 1:], work1[l + 1:]
            live = q != 0
            with np.errstate(divide="ignore", invalid="ignore"):
                shrink = np.maximum(1.0 - (np.abs(rest[0]) / q) ** 2, 0.0)
            recompute = live & (shrink < 1e-6)
            downdate = live & ~recompute
            q[downdate] *= np.sqrt(shrink[downdate])
            if recompute.any():
                q[recompute] = np.linalg.norm(rest[1:, recompute], axis=0)
                w1[recompute] = q[recompute]
        qraux[l] = column[0]
        x[l, l] = -norm
    return min(k - 1, n, max_rank)
