"""Convex formulations, one module per network family: convex program <-> network <-> certificate.

* :mod:`.base`: :class:`~sdpnets.ConvexProgram` (build, recover, certify; ``solve()`` hands the
  program to :mod:`sdpnets.solving`);
* :mod:`.least_squares`, :mod:`.composite`: what the least-squares families share (the QR
  reduction, the composite form of sdpnets' first-order solvers);
* :mod:`.linear_fc`, :mod:`.linear_cnn`, :mod:`.circular_cnn`: the deep linear families;
* :mod:`.relu`: the two-layer ReLU families.
"""
