"""Equilibrium algorithms for bimatrix games; `equilibrium.Verifier` checks what they return.

- `pure`: pure equilibria by a best-response check of every cell.
- `lemke_howson`: Lemke and Howson (1964) complementary pivoting in exact integer
  arithmetic with the lexicographic ratio test.
- `vertex_exact`: vertex enumeration of the best-response polytopes (Algorithm 3.5 of
  Nisan et al. 2007, ch. 3 by von Stengel) over every basis in rational arithmetic.
- `vertex_float`: the same enumeration in floating point from Qhull's half-space
  intersection (Barber, Dobkin and Huhdanpaa 1996), for games too large for exact.
"""
