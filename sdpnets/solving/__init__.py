"""What every ``solve()`` goes through, one trip down::

    ConvexProgram.solve ──> pipeline.solve ──> backends.resolve_backend   (name -> backend)
                                │
                                ├──> memory.choose_backend               (memory guard, auto rule)
                                ├──> isolated_solve.solve_isolated ──> isolation.run_isolated
                                │                                           └──> run.run (child)
                                └──> run.run ──> program.solve_firstorder  (verify.verify)
                                          └──> verify.solve_verified ──> verify.solve_conic
                                                                          └──> Backend.solve

A program takes part only through the public members of :class:`.protocol.SolvableProgram`;
nothing here imports a formulation.
"""
