"""BARFI: behaviour alignment via reward function optimisation (Gupta et al., NeurIPS 2023).

``blend`` (learned reward blend and discount, shaping), ``implicit`` (outer gradients), ``reinforce``
(the inner learner; ``ppo``, the second choice), ``features`` (state features per domain), ``train``
(the bi-level loop).
"""
