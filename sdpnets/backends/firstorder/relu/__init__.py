"""sdpnets' own solvers of the two-layer ReLU program (the group lasso over activation
patterns), one output at a time.

* :mod:`.program`: the program's data and pattern operators;
* :mod:`.admm`, :mod:`.atoms`, :mod:`.ipm`: one module per method (:mod:`.master`: the
  atoms' master problem);
* :mod:`.methods`: which method takes a program (``method="auto"``);
* :mod:`.outputs`: the programs of a vector output's columns, solved side by side in
  worker processes on a multi-core machine.

They never import a formulation: :class:`~sdpnets.formulations.relu.group_lasso.GroupLassoReLU`
hands them its arrays.
"""
