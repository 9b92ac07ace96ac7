"""Training: the loop, its step, optimizers, checkpoints, metrics and summaries.

The estimators (:mod:`mlengine.estimator`) drive it; serving never imports it.

Modules:

* ``checkpoint``: checkpoints: a safetensors file plus a JSON manifest, written atomically
* ``config``: ``RunConfig``: where and how an estimator runs
* ``distributed``: data-parallel training under ``torchrun``: process group, all-reduce
* ``evidence``: what evaluation records for an export's ``evidence.json``, and writing it
* ``fast_step``: backward passes and optimizer updates with little Python per step
* ``ftrl``: FTRL-Proximal as a torch optimizer, with TensorFlow's exact update
* ``head_metrics``: each head's evaluation metrics under TF's keys, from one table
* ``hooks``: ``SessionRunHook`` and ``CheckpointSaverListener`` calls around the loop
* ``lazy_adam``: TF's LazyAdam: Adam on the rows a step looked up, for row-sparse tables
* ``loop``: the training loop: forward, loss, backward, clip, step, log, save
* ``metrics``: evaluation metrics with tf.estimator's keys, accumulated batch by batch
* ``module_step``: a custom module's training step in numpy, for DenseFeatures -> Linear layers
* ``numpy_step``: the common Wide & Deep network's forward and backward in numpy, on CPU
* ``optimizers``: TensorFlow-named optimizer specs and the canned estimators' learning rates
* ``pipeline``: from an ``input_fn`` to encoded batches, transforming large chunks at a time
* ``prefetch``: run an iterator one item ahead in a background thread (GPU training)
* ``progress``: what training shows: a bar in a terminal, TF's log lines, or nothing
* ``session``: a model with its optimizers and global step: build, checkpoint, restore
* ``sparse_grads``: row-sparse gradients of lookup tables: rows and values, exchange, clipping
* ``summaries``: TensorBoard event files with tf.estimator's tags
* ``torch_private``: the private torch APIs mlengine uses, all in this one place
"""

__all__: list[str] = []
