"""The active-set method for the cone-constrained ReLU program with the squared loss:
interior-point solves of reduced programs (:mod:`.group_cone_ipm`), polished on the faces of
the pattern cones (:mod:`.faces`), over a working set of blocks and rows
(:mod:`.working_set`); :mod:`.solver` runs the rounds."""
