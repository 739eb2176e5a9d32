"""Two-layer ReLU networks as group lassos over activation patterns (docs/relu.md).

* :mod:`.group_lasso`: the program shared by every family, its recovery and certificates;
* :mod:`.dual_norm`: the dual norm of the program's regularizer, exact over every pattern or
  bracketed by certified bounds, and the best hinge dual point;
* :mod:`.mlp` (:class:`~sdpnets.ConvexReLU`), :mod:`.cnn` (:class:`~sdpnets.ConvexReLUCNN`),
  :mod:`.circular` (:class:`~sdpnets.ConvexCircularReLU`), :mod:`.gated`
  (:class:`~sdpnets.ConvexGatedReLU`): one module per family.
"""
