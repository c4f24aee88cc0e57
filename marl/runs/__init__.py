"""Run folders and what is saved in them: the writer lock (:mod:`marl.runs.folder`), checkpoints
(:mod:`marl.runs.checkpoints`), the training session built from a config or a checkpoint
(:mod:`marl.runs.session`), its snapshots (:mod:`marl.runs.snapshots`) and the resume rules
(:mod:`marl.runs.resume`)."""
