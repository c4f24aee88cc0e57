"""Evaluation of learned and scripted teams: ``marl eval`` (:mod:`marl.eval.cli`)."""
