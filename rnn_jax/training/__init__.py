"""The run shell: settings and their checks, the optimizer, batching, parallelism, the training
loop, checkpoints, run directories, experiment definitions and the command line."""
