"""Pure functions of the data that the convex programs are built on.

* :mod:`.patches`: the patches of convolutional networks;
* :mod:`.fourier`: real DFT coordinates, frequency groups and a circular CNN's DFT features;
* :mod:`.arrangement`: the hyperplane arrangement of the data's rows, its cells counted and
  enumerated;
* :mod:`.patterns`: activation patterns (every cell, sampled or given gates);
* :mod:`.statistics`: the sufficient statistics of least-squares data (one Dask pass).

Nothing here knows a program, a network or a solver.
"""
