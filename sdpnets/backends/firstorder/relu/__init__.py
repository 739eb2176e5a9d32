"""sdpnets' own solvers of the two-layer ReLU program (the group lasso over activation
patterns), one output at a time.

* :mod:`.program`: the program's data and pattern operators;
* :mod:`.admm`, :mod:`.atoms`, :mod:`.ipm`: one module per method (:mod:`.master`: the
  atoms' master problem);
* :mod:`.methods`: which method takes a program (``method="auto"``).

They never import a formulation: :class:`~sdpnets.formulations.relu.group_lasso.GroupLassoReLU`
hands them its arrays.
"""
