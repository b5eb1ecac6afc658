"""The application layer: what the command line and the window both do, written once.

Preparing and running a training run (`preparation`, `training_run`, `run_plan`), the curve
history a run draws (`curves`), which trained weights belong to which network and what they
score (`trained_weights`), and how layer names survive an edit (`layer_names`). Qt-free and
cheap to import: torch loads only when a function that needs it runs.
"""
