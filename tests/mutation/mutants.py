"""The mutants of the mutation check: small, realistic bugs the test suite must catch.

Each :class:`Mutant` names one file of the repository, an exact snippet of it (which must
occur exactly once) and its replacement, the tests that should catch it (pytest file or
node ids, run in the order given and stopped at the first failure), and what the bug is.
``tests/mutation/run.py`` applies each mutant to a copy of the repository and runs its
tests there. A mutant that no test can catch because it cannot change behaviour is marked
``equivalent=True`` and its description says why.

Adding a mutant: copy the snippet from the current source (whitespace included), make the
bug a developer could plausibly write, and name the tests that are meant to see it. If the
check then reports it survived, either a test is missing (add one) or it is equivalent
(explain why and mark it).
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str
    original: str
    replacement: str
    tests: tuple
    description: str
    equivalent: bool = False
    timeout: float = 900.0  # seconds for its test run (a kernel mutant recompiles every kernel it uses)


TRAINING_MATRIX = "tests/test_training_matrix.py::test_backends_train_to_the_same_weights"
SIZES_MATRIX = "tests/test_training_matrix.py::test_numpy_and_numba_agree_at_online_blas_and_large_sizes"
OPTIMIZERS_AGREE = "tests/test_trainer.py::test_numba_and_numpy_agree_for_each_optimizer"
ONE_EPOCH = "tests/test_trainer.py::test_one_epoch_equals_manual_minibatch_sgd"
LARGE_EQUIVALENCE = "tests/test_equivalence.py::test_backends_agree_large_blas"
TILES_TRAINING = ("tests/test_split.py::test_the_first_layer_on_tiles_trains_the_weights_of_the_blas_within_float32_"
                  "rounding[forward-and-weights-adam]")

# evaluate's net (``NumbaBackend.evaluate``): its loss static, weighted by the data
EVALUATION_NET = "        net, first = self._scoring_nets[weighted], weighted not in self._evaluated"

MUTANTS = [
    # -- the nine of the issue ---------------------------------------------------------------------
    Mutant(
        "adam_bias_correction_sign", "kernels/optimizers.py",
        "lr = lr / (1.0 - hyper.beta1 ** t)",
        "lr = lr / (1.0 + hyper.beta1 ** t)",
        (OPTIMIZERS_AGREE, SIZES_MATRIX),
        "numba Adam: first-moment bias correction 1 / (1 + beta1^t) instead of 1 / (1 - beta1^t)"),
    Mutant(
        "last_batch_one_row_short", "kernels/batches.py",
        "left = plan.order.shape[0] - start\n",
        "left = plan.order.shape[0] - start - 1\n",
        (ONE_EPOCH, TRAINING_MATRIX),
        "numba epoch kernels: the last batch of an epoch loses its last row"),
    Mutant(
        "relu_slope_one_at_zero", "kernels/activations.py",
        "return one if a > 0 else one - one",
        "return one if a >= 0 else one - one",
        ("tests/test_equivalence.py::test_backends_agree_explicit", "tests/test_gradcheck.py"),
        "numba ReLU derivative 1 at a = 0, i.e. for every z <= 0 (the slope is taken from the output)"),
    Mutant(
        "softmax_without_max_subtraction", "kernels/losses.py",
        """        if grad:  # keep the exponentials in dz, scale them after
            for j in range(c):
                e = np.exp(zi[j] - zmax)
                dz[i, j] = e
                s += e
        else:
            for j in range(c):
                s += np.exp(zi[j] - zmax)
        lse = zmax + np.log(s)  # never log of an underflowed softmax""",
        """        if grad:  # keep the exponentials in dz, scale them after
            for j in range(c):
                e = np.exp(zi[j])
                dz[i, j] = e
                s += e
        else:
            for j in range(c):
                s += np.exp(zi[j])
        lse = np.log(s)""",
        ("tests/test_numerics.py::test_cross_entropy_of_huge_logits_is_finite_and_exact",),
        "numba softmax cross-entropy exponentiates the raw logits: overflows for large logits"),
    Mutant(
        "momentum_drops_weight_decay", "kernels/optimizers.py",
        "velocity = c.momentum * velocity + g + c.weight_decay * p",
        "velocity = c.momentum * velocity + g",
        (TRAINING_MATRIX, SIZES_MATRIX),
        "numba SGD with momentum (not Nesterov) ignores weight_decay"),
    Mutant(
        "plain_sgd_drops_weight_decay", "kernels/optimizers.py",
        "return p - c.lr * (g + c.weight_decay * p)",
        "return p - c.lr * g",
        ("tests/test_schedules_applied.py", TRAINING_MATRIX),
        "numba generic kernel, SGD with momentum 0 and weight_decay > 0: the decay is dropped"),
    Mutant(
        "step_schedule_one_epoch_late", "fastmlp/schedules.py",
        "return base_lr * self.gamma ** (epoch // self.step_size)",
        "return base_lr * self.gamma ** (max(epoch - 1, 0) // self.step_size)",
        ("tests/test_schedules.py", "tests/test_schedules_applied.py"),
        "StepDecay decays one epoch after step_size epochs instead of at it"),
    Mutant(
        "trainer_trains_with_base_lr", "fastmlp/trainer.py",
        "part = model.engine.train_epoch(model.params, state, self.optimizer, data, order[start:stop], lr)",
        "part = model.engine.train_epoch(model.params, state, self.optimizer, data, order[start:stop], self.lr)",
        ("tests/test_schedules_applied.py",),
        "the trainer records the scheduled lr in the history but trains every epoch with the base lr"),
    Mutant(
        "plot_without_path_writes_a_file", "fastmlp/plots/base.py",
        'path = check_path(path, "path", optional=True)',
        'path = check_path(path or "figure.png", "path", optional=True)',
        ("tests/test_plots.py::test_no_path_writes_nothing",),
        "a plot called without path writes figure.png into the working folder"),
    # -- kernels -----------------------------------------------------------------------------------
    Mutant(
        "dense_forward_gemm_accumulates", "kernels/split.py",
        "return lambda C, A, B, partial, parts: product(C, A, False, B, False, 1, 0, parts)",
        "return lambda C, A, B, partial, parts: product(C, A, False, B, False, 1, 1, parts)",
        (LARGE_EQUIVALENCE, SIZES_MATRIX),
        "numba dense forward at BLAS sizes adds x @ W to the stale output buffer (beta 1, not 0)"),
    Mutant(
        "dense_backward_dW_scaled_by_batch", "kernels/dense.py",
        "weight_product(dW, x, dout, 1, 0, parts, own_dw, room)",
        "weight_product(dW, x, dout, 1.0 / m, 0, parts, own_dw, room)",
        (LARGE_EQUIVALENCE, SIZES_MATRIX),
        "numba dense backward at BLAS sizes divides dW by the batch size again (dout already is the mean's)"),
    Mutant(
        "col_sums_accumulates", "kernels/dense.py",
        "db[j] = zero",
        "db[j] += zero",
        (SIZES_MATRIX, LARGE_EQUIVALENCE),
        "numba bias gradient adds into the stale gradient"),
    Mutant(
        "gemm_transpose_flags_swapped", "kernels/blas.py",
        "_gemm(_T if tb else _N, _T if ta else _N, n, m, k,",
        "_gemm(_T if ta else _N, _T if tb else _N, n, m, k,",
        (LARGE_EQUIVALENCE, SIZES_MATRIX),
        "numba gemm passes A's transpose flag for B and B's for A (row-major <-> column-major mix-up)"),
    Mutant(
        "online_next_sample_overwrites_current", "kernels/online.py",
        "x_next = xs[(s + 1) % 2]",
        "x_next = xs[s % 2]",
        (ONE_EPOCH, TRAINING_MATRIX),
        "numba online kernel: the next sample is copied over the current one before its update uses it"),
    Mutant(
        "gather_targets_by_batch_row", "kernels/batches.py",
        "batch.t[r, j] = t[src, j]",
        "batch.t[r, j] = t[r, j]",
        (TRAINING_MATRIX,),
        "numba batch gather takes the real targets (mse, bce) of row r instead of the shuffled row idx[r]"),
    Mutant(
        "divergence_flag_not_set", "kernels/epoch.py",
        """    if not np.isfinite(stats[LOSS_SUM]):
        r.diverged = True
        return False""",
        """    if not np.isfinite(stats[LOSS_SUM]):
        return False""",
        ("tests/test_trainer.py::test_divergence_stops_and_restores_the_last_finite_epoch",
         "tests/test_trainer.py::test_divergence_raises_when_asked"),
        "numba epoch kernels stop at a non-finite batch loss but do not report the divergence"),
    Mutant(
        "fused_sgd_skips_negative_inputs", "kernels/dense.py",
        "if c != 0:",
        "if c > 0:",
        (ONE_EPOCH, TRAINING_MATRIX),
        "numba fused SGD (small layers) skips negative inputs instead of only zero ones"),
    Mutant(
        "rmsprop_without_sqrt", "kernels/optimizers.py",
        "return p - estimated_quotient(c.lr * gi, np.sqrt(square_avg) + c.eps), square_avg",
        "return p - estimated_quotient(c.lr * gi, square_avg + c.eps), square_avg",
        (OPTIMIZERS_AGREE, SIZES_MATRIX),
        "numba RMSprop divides by the mean square, not its root"),
    Mutant(
        "descend_steps_before_the_decay", "kernels/optimizers.py",
        "    if c.write_velocity:\n        _velocity_decay(velocity, p, c)\n    for i in range(p.shape[0]):\n"
        "        p[i] = p[i] - c.lr * velocity[i]\n    restore_fp_mode(mode)\n",
        "    for i in range(p.shape[0]):\n        p[i] = p[i] - c.lr * velocity[i]\n    if c.write_velocity:\n"
        "        _velocity_decay(velocity, p, c)\n    restore_fp_mode(mode)\n",
        ("tests/test_optimizers.py::"
         "test_descend_with_weight_decay_adds_it_to_the_velocity_then_steps_by_the_new_velocity", TRAINING_MATRIX),
        "numba fused momentum with weight decay steps p by the velocity before the decay is added to it"),
    Mutant(
        "nesterov_steps_with_the_old_velocity", "kernels/optimizers.py",
        "        velocity[i] = nesterov_velocity(p[i], velocity[i], g[i], c)\n    for i in range(p.shape[0]):\n"
        "        p[i] = nesterov_param(p[i], velocity[i], g[i], c)\n",
        "        p[i] = nesterov_param(p[i], velocity[i], g[i], c)\n    for i in range(p.shape[0]):\n"
        "        velocity[i] = nesterov_velocity(p[i], velocity[i], g[i], c)\n",
        (OPTIMIZERS_AGREE, TRAINING_MATRIX),
        "numba Nesterov over a layer steps p by the velocity before updating it (its two loops swapped)"),
    Mutant(
        "estimated_quotient_reads_denormals_as_zero", "kernels/intrinsics.py",
        "        y = builder.select(builder.fcmp_ordered(\"<\", y, tiny), tiny, y)\n",
        "",
        ("tests/test_intrinsics.py::test_estimated_quotient_is_within_a_few_ulp_in_float32_and_exact_in_float64",),
        "the float32 division by a reciprocal estimate without raising a denormal denominator to the smallest "
        "normal: the estimate reads it as 0 (with a denormal eps, an untouched weight's update is 0 * inf = NaN)"),
    Mutant(
        "adamw_decay_skipped", "kernels/optimizers.py",
        'Returns (p, m, v)."""\n    p = p * c.decay\n',
        'Returns (p, m, v)."""\n',
        ("tests/test_regularisation.py::test_decoupled_weight_decay_by_hand", "tests/test_split.py"),
        "numba Adam's element update forgets the decoupled weight decay (AdamW trains as Adam)"),
    Mutant(
        "adagrad_lr_decay_from_first_step", "kernels/optimizers.py",
        "lr = lr / (1.0 + (step - 1) * hyper.lr_decay)",
        "lr = lr / (1.0 + step * hyper.lr_decay)",
        (OPTIMIZERS_AGREE, TRAINING_MATRIX),
        "numba Adagrad decays the lr already at the first step (t instead of t - 1)"),
    # -- the NumPy and loop references -------------------------------------------------------------
    Mutant(
        "numpy_nesterov_look_ahead", "fastmlp/optimizers.py",
        'g = g + mu * velocity if h["nesterov"] else velocity.copy()',
        'g = velocity + mu * g if h["nesterov"] else velocity.copy()',
        (OPTIMIZERS_AGREE, TRAINING_MATRIX),
        "NumPy reference Nesterov step: velocity + mu g instead of g + mu velocity"),
    Mutant(
        "numpy_mse_gradient_over_rows", "fastmlp/backends/numpy.py",
        "return (r * r).mean(axis=1), 2 * r / r.size, 0",
        "return (r * r).mean(axis=1), 2 * r / m, 0",
        ("tests/test_equivalence.py", "tests/test_worked_example.py"),
        "NumPy reference mse gradient divided by the rows only, not rows x outputs"),
    Mutant(
        "loop_bias_gradient_not_averaged", "fastmlp/backends/loops.py",
        "gb[...] = np.array(dbl) / m",
        "gb[...] = np.array(dbl)",
        ("tests/test_equivalence.py::test_backends_agree_explicit", "tests/test_worked_example.py"),
        "loop reference sums the bias gradient over the batch instead of averaging it"),
    Mutant(
        "numpy_drop_last_continue", "fastmlp/backends/numpy.py",
        """            if len(idx) < bs and data.drop_last:
                break""",
        """            if len(idx) < bs and data.drop_last:
                continue""",
        (ONE_EPOCH, TRAINING_MATRIX),
        "equivalent: NumPy epoch loop skips a short batch with continue instead of break; only the "
        "last batch can be short, so nothing follows it and the two are the same",
        equivalent=True),
    # -- the trainer -------------------------------------------------------------------------------
    Mutant(
        "shuffle_same_order_every_epoch", "fastmlp/trainer.py",
        "return lambda epoch, n: draw(np.random.default_rng([seed, epoch]), n)",
        "return lambda epoch, n: draw(np.random.default_rng(seed), n)",
        ("tests/test_trainer.py::test_every_epoch_has_its_own_order_fixed_by_the_seed_and_epoch",),
        "seeded shuffling gives every epoch the same order (the epoch is left out of the seed)"),
    Mutant(
        "drop_last_ignored", "fastmlp/trainer.py",
        "data = TrainingData(X, yi, t, batch_size, bool(drop_last), w, dropout)",
        "data = TrainingData(X, yi, t, batch_size, False, w, dropout)",
        (ONE_EPOCH,),
        "fit(drop_last=True) still trains on the last partial batch"),
    Mutant(
        "ctrl_c_keeps_the_half_done_epoch", "fastmlp/trainer.py",
        """                        if not done:
                            model.params[...] = saved_params
                            state.copy_from(saved_state)""",
        """                        if not done:
                            state.copy_from(saved_state)""",
        ("tests/test_trainer.py::test_interrupt_mid_epoch_restores_the_last_completed_epoch",),
        "Ctrl-C in the middle of an epoch restores the optimizer state but keeps the half-updated weights"),
    Mutant(
        "val_loss_over_training_rows", "fastmlp/trainer.py",
        "nv = val[0].shape[0]",
        "nv = X.shape[0]",
        ("tests/test_trainer.py::test_history_rows_and_validation_data",),
        "validation loss and accuracy divided by the number of training rows"),
    # -- dropout -----------------------------------------------------------------------------------
    Mutant(
        "dropout_backward_ignores_the_mask", "kernels/dropout.py",
        """    if drop.cut[l] == 0:
        return
    mask = _like(drop.masks, rows, net, l, dx)""",
        """    if drop.cut[l] >= 0:
        return
    mask = _like(drop.masks, rows, net, l, dx)""",
        ("tests/test_dropout.py::test_backends_agree_for_every_activation",),
        "the numba backward passes gradients through dropped units (and unscaled through kept ones)"),
    Mutant(
        "numpy_dropout_next_layer_unmasked", "fastmlp/backends/numpy.py",
        "a_in = a if mask is None else a * mask",
        "a_in = a",
        ("tests/test_dropout.py::test_gradient_of_the_masked_loss_matches_finite_differences",),
        "the NumPy gradient of W takes the unmasked outputs of the layer below"),
    Mutant(
        "dropout_step_restarts_each_chunk", "kernels/epoch.py",
        "train_forward(ws, params, x, net, drop, step0 + result[0].steps + 1)",
        "train_forward(ws, params, x, net, drop, result[0].steps + 1)",
        ("tests/test_dropout.py::test_chunked_epochs_give_the_same_bits",),
        "the masks' update counter restarts with every compiled chunk: masks repeat and depend on the chunking"),
    # -- schedules ---------------------------------------------------------------------------------
    Mutant(
        "cosine_not_clamped", "fastmlp/schedules.py",
        "e = min(max(epoch - first, 0), total)",
        "e = max(epoch - first, 0)",
        ("tests/test_schedules.py",),
        "CosineDecay rises again after total_epochs instead of staying at min_lr"),
    Mutant(
        "warmup_one_epoch_long", "fastmlp/schedules.py",
        "if epoch < self.warmup_epochs:",
        "if epoch <= self.warmup_epochs:",
        ("tests/test_schedules.py",),
        "LinearWarmup ramps one epoch too long, overshooting the base lr"),
    # -- I/O ---------------------------------------------------------------------------------------
    Mutant(
        "load_drops_optimizer_step", "fastmlp/model.py",
        'model.optimizer_state.step = meta["optimizer_step"]',
        'model.optimizer_state.step = 0',
        ("tests/test_io.py",),
        "load restores the optimizer slots but restarts its step count at 0 (Adam's bias correction)"),
    Mutant(
        "history_flags_not_loaded", "fastmlp/history.py",
        'return cls(rows, d["diverged"], d["interrupted"], d["stopped_early"], best)',
        'return cls(rows)',
        ("tests/test_io.py::test_round_trip_keeps_how_the_run_ended",),
        "a loaded history keeps its rows but forgets diverged, interrupted, stopped_early, best_epoch"),
    # -- scikit-learn -------------------------------------------------------------------------------
    Mutant(
        "stale_expected_failed_check", "fastmlp/sklearn.py",
        """    "MLPRegressor": {"float32": {"check_sample_weight_equivalence_on_dense_data": _WEIGHTS_FLOAT32},""",
        """    "MLPRegressor": {"float32": {"check_sample_weight_equivalence_on_dense_data": _WEIGHTS_FLOAT32,
                                 "check_fit2d_1sample": "float32 sums"},""",
        ("tests/test_sklearn_checks.py::test_check_estimator_default_dtype",),
        "a scikit-learn check listed as an expected float32 failure of MLPRegressor, which passes it (not one whose "
        "outcome hangs on rounding: the test lets those pass)"),
    # -- sample weights, sampling ----------------------------------------------------------------------
    Mutant(
        "weights_ignored_in_the_gradient", "kernels/losses.py",
        "return w[i] * inv_w if weighted else inv_m",
        "return inv_m",
        ("tests/test_sample_weight.py::test_weighted_gradient_is_the_weighted_mean_of_per_sample_gradients",),
        "dz keeps 1/m with sample weights: the weighted loss is reported but the gradient is the plain mean's"),
    Mutant(
        "zero_weight_batch_trained", "fastmlp/backends/numpy.py",
        """            if wb is not None and not wb.any():  # weights summing to 0: skipped, as in the kernels
                continue
""",
        "",
        ("tests/test_sample_weight.py::test_a_batch_of_zero_weights_is_skipped",),
        "the reference trains a batch whose weights are all 0 (0/0 loss) instead of skipping it"),
    Mutant(
        "replacement_draws_a_permutation", "fastmlp/trainer.py",
        "draw = (lambda rng, n: rng.integers(0, n, n, dtype=np.int64)) if replacement else",
        "draw = (lambda rng, n: rng.permutation(n)) if replacement else",
        ("tests/test_sampling.py::test_replacement_draws_n_indices_with_repeats",),
        "sampling='replacement' still visits every sample once per epoch"),
    # -- checks ------------------------------------------------------------------------------------
    Mutant(
        "open_upper_bound_accepted", "fastmlp/checks.py",
        "return high is None or (v < high if high_open else v <= high)",
        "return high is None or v <= high",
        ("tests/test_checks.py", "tests/test_optimizers.py::test_bad_hyperparameters_are_refused"),
        "an open upper bound is checked as closed: momentum=1.0, beta1=1.0 accepted"),
    Mutant(
        "class_id_upper_bound_off_by_one", "fastmlp/checks.py",
        "if ids.min() < 0 or ids.max() >= n_classes:",
        "if ids.min() < 0 or ids.max() > n_classes:",
        ("tests/test_bad_input.py", "tests/test_checks.py"),
        "class id n_classes accepted (the kernels would read one past the logits)"),
    # -- penalties and clipping --------------------------------------------------------------------
    Mutant(
        "l2_not_divided_by_batch_rows", "kernels/regularisation.py",
        "T(hyper.l2 / rows)",
        "T(hyper.l2)",
        ("tests/test_regularisation.py::test_l2_is_scikit_learns_alpha_by_hand",),
        "numba l2 penalty's gradient l2 * W instead of scikit-learn's alpha * W / batch size"),
    Mutant(
        "clip_value_skips_biases", "kernels/regularisation.py",
        "_clip_values(g, T(hyper.clip_value))",
        "_clip_values(g[:n_w], T(hyper.clip_value))",
        ("tests/test_clipping.py::test_clip_value_by_hand",),
        "numba value clipping clips the weights' gradient only, not the biases'"),
    Mutant(
        "clip_norm_scales_unclipped_gradients", "kernels/regularisation.py",
        "if coef < 1.0:",
        "if coef != 1.0:",
        ("tests/test_clipping.py::test_clip_norm_by_hand_and_as_torch",),
        "numba global-norm clipping also scales a gradient whose norm is below the bound (up)"),
    Mutant(
        "penalty_not_added_to_the_epoch_loss", "kernels/epoch.py",
        "    add_penalty(result, ws.stats)\n",
        "",
        ("tests/test_regularisation.py::test_backends_agree_in_float64",),
        "numba generic epoch: each batch's penalty is left in the workspace (counted with the next batch)"),
    Mutant(
        "numpy_decoupled_decay_without_lr", "fastmlp/optimizers.py",
        'p *= T(1.0 - lr * h["decoupled_weight_decay"])',
        'p *= T(1.0 - h["decoupled_weight_decay"])',
        ("tests/test_regularisation.py::test_decoupled_weight_decay_by_hand",),
        "NumPy reference decoupled weight decay p *= 1 - wd, without the learning rate"),
    Mutant(
        "screen_pieces_miss_the_last_row", "fastmlp/backends/numba.py",
        "X[n * t // parts:n * (t + 1) // parts]",
        "X[n * t // parts:(n - 1) * (t + 1) // parts]",
        ("tests/test_screen.py",),
        "numba input screen: the pieces of rows leave out the last row, so a NaN there trains"),
    Mutant(
        "screen_forgets_a_failed_piece", "fastmlp/backends/numba.py",
        "for t in np.flatnonzero(flags < 0):",
        "for t in np.flatnonzero(flags < -1):",
        ("tests/test_screen.py",),
        "numba input screen: a piece whose thread failed is left uncounted (-1 in the sum), so its NaN trains"),
    Mutant(
        "one_thread_choice_before_the_first_batch", "fastmlp/backends/numba.py",
        "        known, own = known_choice(a, rows, X)\n",
        "        known, own = known_choice(a, rows, X)\n        return own_products(a, rows, X), None\n",
        ("tests/test_chunked_epochs.py",),
        "one thread: a machine's first training measures its products' choice (and compiles its kernels) before its "
        "first batch"),
    Mutant(
        "one_thread_choice_taken_before_its_kernel", "fastmlp/backends/numba.py",
        "if (key, rows) not in self._own_deferred or key in _own_one_ready:",
        "if True:",
        ("tests/test_chunked_epochs.py",),
        "one thread: a choice measured mid-training is taken at once, its kernel compiled on the training's thread"),
    Mutant(
        "one_thread_record_waits_for_a_thread", "fastmlp/backends/numba.py",
        "if (key, rows) not in self._own_deferred or key in _own_one_ready:",
        "if key in _own_one_ready:",
        ("tests/test_chunked_epochs.py",),
        "one thread: a choice made before (a record) is not taken from the first batch (the BLAS's products until a "
        "thread compiled its kernel)"),
    Mutant(
        "small_networks_predict_by_blocks", "fastmlp/backends/products.py",
        "if not own.any() or work < BLOCKS_MIN_WORK or loops > LOOP_SHARE * work:",
        "if not own.any() or loops > LOOP_SHARE * work:",
        ("tests/test_inference_blocks.py",),
        "inference by blocks taken by a network of a few thousand multiply-adds a row (its kernels compile for seconds)"),
    Mutant(
        "screen_lets_nan_through", "kernels/screen.py",
        "row += np.int32(not (abs(r[j]) <= lim))  # NaN compares false",
        "row += np.int32(abs(r[j]) > lim)  # NaN compares false",
        ("tests/test_screen.py", "tests/test_inference.py"),
        "numba input screen: counts values beyond the limit but not NaN (a comparison NaN fails)"),
    Mutant(
        "matmul_drops_an_odd_last_k", "kernels/matmul.py",
        "    if q < count:\n        p0 = np.uint64(",
        "    if q < count - 1:\n        p0 = np.uint64(",
        ("tests/test_matmul.py",),
        "numba own product: with an odd k, the last input's products are left out of every sum"),
    Mutant(
        "matmul_placed_tile_stores_every_column", "kernels/matmul.py",
        "            for j in range(skip, width):\n                o[j] = done[r * width + j]",
        "            for j in range(width):\n                o[j] = done[r * width + j]",
        ("tests/test_matmul.py",),
        "numba own product, a width not of whole tile rows: the last tile row, placed over the one before, stores "
        "the columns that one stored again (a weight product with beta 1 adds them twice)"),
    Mutant(
        "matmul_lanes_drops_an_odd_last_k", "kernels/matmul.py",
        "    if q < count:\n        _add_position(",
        "    if q < count - 1:\n        _add_position(",
        ("tests/test_lanes.py",),
        "numba own product compiled for AVX2 (whole vectors): with an odd k, the last input's products are left out"),
    Mutant(
        "matmul_misses_the_last_row", "kernels/matmul.py",
        "    if i0 < m:\n",
        "    if i0 < m - 1:\n",
        ("tests/test_matmul.py",),
        "numba own product: a last row left over after the tiles of 6, 4 and 2 is never computed"),
    Mutant(
        "own_product_chosen_without_margin", "fastmlp/backends/products.py",
        "return own_s * (1 + MARGIN) < blas_s",
        "return own_s < blas_s",
        ("tests/test_matmul.py",),
        "a layer goes to the own product when barely faster than the BLAS (within the timing noise)"),
    Mutant(
        "matmul_t_transposes_a_row_short", "kernels/matmul.py",
        "            for p in range(TRANSPOSE_ROWS):\n",
        "            for p in range(TRANSPOSE_ROWS - 1):\n",
        ("tests/test_matmul.py",),
        "numba own dx: one row of W in 16 left out of W.T (what the scratch held is multiplied instead)"),
    Mutant(
        "own_dx_chosen_unmeasured", "fastmlp/backends/products.py",
        "        if _faster(*_dx_timed(arch, rows, l, rng)):\n",
        "        if True:\n",
        ("tests/test_matmul.py",),
        "every layer's dx goes to matmul_t, faster or not"),
    Mutant(
        "own_dw_chosen_unmeasured", "fastmlp/backends/products.py",
        "        if _faster(*_dw_timed(arch, rows, l, rng, batch if l == 0 else None)):\n",
        "        if True:\n",
        ("tests/test_matmul.py",),
        "every layer's weight product goes to matmul_tn, faster or not"),
    Mutant(
        "sparse_rows_mask_by_the_last_row", "kernels/matmul.py",
        "                    mask[p] |= x[i0 + r, p] != 0\n",
        "                    mask[p] = x[i0 + r, p] != 0\n",
        ("tests/test_matmul.py",),
        "numba forward over nonzero inputs: a tile of 4 or 2 rows keeps only the positions its last row has"),
    Mutant(
        "sparse_columns_remainder_flags_stale", "kernels/matmul.py",
        "    for t in range(full, tiles):\n",
        "    for t in range(full, full):\n",
        ("tests/test_matmul.py",),
        "numba weight product over nonzero inputs: the last inputs' tiles list samples by stale flags"),
    Mutant(
        "sparse_chosen_for_dense_inputs", "fastmlp/backends/products.py",
        "    if batch is not None and own[0] & (OWN_FORWARD | OWN_DW):\n",
        "    if own[0] & (OWN_FORWARD | OWN_DW):\n",
        ("tests/test_matmul.py",),
        "OWN_SPARSE given to inputs without zeros (not timed on them)"),
    Mutant(
        "grouped_rows_put_back_in_order", "kernels/groups.py",
        "        src, dst = grouped[i], out[order[i]]\n",
        "        src, dst = grouped[i], out[i]\n",
        ("tests/test_groups.py",),
        "the grouped product's rows left in the grouped order: each row gets another row's result"),
    Mutant(
        "grouping_takes_the_most_added", "kernels/groups.py",
        "        best = min(best, (added << np.uint64(ROW_BITS)) | np.uint64(rows[j]))\n",
        "        best = max(best, (added << np.uint64(ROW_BITS)) | np.uint64(rows[j]))\n",
        ("tests/test_groups.py",),
        "the grouping takes the row that adds the most positions to a tile: tiles of unlike rows"),
    Mutant(
        "masks_without_their_high_word", "kernels/groups.py",
        "        for b in range(64, runs):\n",
        "        for b in range(64, 64):\n",
        ("tests/test_groups.py",),
        "a row's coarse mask without its second word: positions past the first 512 never group rows"),
    Mutant(
        "one_thread_training_rows_in_order", "fastmlp/backends/numba.py",
        "        elif sparse_threads(own, None) is not None:  # the product cut",
        "        elif own is not None:  # the product cut",
        ("tests/test_matmul.py::test_a_training_on_one_thread_with_its_rows_grouped_trains_what_the_blas_trains",),
        "a training on one thread gets the room of the rows in their order: its batches' rows never grouped"),
    Mutant(
        "forward_groups_with_a_room_too_small", "kernels/groups.py",
        "    return m <= MAX_ROWS and grouped_room(m, k, n, x.itemsize) <= size\n",
        "    return m <= MAX_ROWS and sparse_room(m, k) <= size\n",
        ("tests/test_groups.py",),
        "the forward product groups the rows in a room sized for the lists alone: writes past the room"),
    Mutant(
        "one_thread_waits_double_to_the_long_recheck", "fastmlp/backends/thread_choice.py",
        "min(2 * self._one_wait, ONE_RECHECK_MAX_SECONDS)",
        "min(2 * self._one_wait, RECHECK_SECONDS)",
        ("tests/test_thread_choice.py",),
        "one thread kept waits up to 10 s between measures: a spell that outlasts two probes holds it for seconds "
        "after"),
    Mutant(
        "prepare_leaves_the_products_choice_to_the_first_epoch", "fastmlp/backends/numba.py",
        "            cut = split_parts(kernel, self.arch, rows)  # all threads",
        "            cut = split_parts(kernel, self.arch, rows) if order.shape[0] else None  # all threads",
        ("tests/test_chunked_epochs.py::test_the_first_epoch_runs_the_kernel_its_preparation_compiled",),
        "a cut training whose own products were chosen before is prepared with the BLAS's: its first epoch compiles "
        "its kernel again for them"),
    Mutant(
        "own_weight_product_in_training_doubled", "kernels/matmul.py",
        "            matmul_tn(out, x, dout, float(alpha), float(beta))\n    return impl",
        "            matmul_tn(out, x, dout, 2.0 * float(alpha), float(beta))\n    return impl",
        ("tests/test_matmul.py::test_training_with_matmul_trains_what_the_blas_trains",),
        "a training's own weight product (OWN_DW, one thread) doubled: the training tests of the own products no "
        "longer reach matmul_tn (as when they ran in a process of several threads, which never takes it)"),
    Mutant(
        "products_timed_before_their_kernels_compiled_in_a_thread", "fastmlp/backends/numba.py",
        "            if not known and not _timing_compiled_or_started(key, a, rows, X, True, tiles=True):",
        "            if False:",
        ("tests/test_chunked_epochs.py::test_a_cut_training_times_no_product_before_its_first_batch",),
        "a machine's first cut training on images measures its products' choice between two calls with the timing "
        "kernels not compiled: the training waits for their compile (12-15 s cold)"),
    Mutant(
        "plain_sgd_times_the_tiles_before_their_kernels_compiled_in_a_thread", "fastmlp/backends/numba.py",
        "        if not own_known(a, rows, data.X, True, tiles=True):\n            with _cut_lock:",
        "        if False:\n            with _cut_lock:",
        ("tests/test_split.py::test_plain_sgd_times_the_tiles_on_its_thread_only_once_a_thread_compiled_their_kernels",),
        "a machine's first plain SGD training past CUT_AFTER_S compiles the kernels that time the tiles on its own "
        "thread: 19.6 s of one epoch in the recipe's first cold process"),
    Mutant(
        "plain_sgd_prepares_its_unused_uncut_kernel", "fastmlp/backends/numba.py",
        "        if (optimizer.is_plain_sgd and self.epoch_kernel == \"auto\" and data.dropout is None",
        "        if (False and optimizer.is_plain_sgd and self.epoch_kernel == \"auto\" and data.dropout is None",
        ("tests/test_split.py::test_plain_sgd_takes_its_cut_kernel_once_ready_and_fused_on_one_thread",),
        "plain SGD whose cut kernel is ready still prepares its uncut 'generic' kernel at a fit's start, which it never "
        "runs: seconds of compiling on a machine's first run"),
    Mutant(
        "plain_sgd_s_cut_thread_prepares_an_uncut_kernel", "fastmlp/backends/numba.py",
        "lr, parts, uncut_too=False):  # (never run uncut: 'fused')",
        "lr, parts, uncut_too=True):  # (never run uncut: 'fused')",
        ("tests/test_split.py::test_plain_sgd_s_cut_thread_prepares_no_uncut_kernel",),
        "the thread that prepares plain SGD's cut kernel also compiles an uncut 'generic' kernel with the products' "
        "choice, which plain SGD never runs: 18.6 s of compiling in that thread cold instead of 13.4"),
    Mutant(
        "cut_kernel_that_would_load_waits_for_the_delay", "fastmlp/backends/numba.py",
        "        if early and (not CUT_AT_ONCE_WHEN_CACHED or training in _cut_not_cached):",
        "        if early:",
        ("tests/test_split.py::test_a_cut_kernel_that_would_load_is_prepared_from_the_first_call",),
        "a short fit never takes its cut kernel even where it would load from the cache in milliseconds: the "
        "recipe's five epochs 1.70 s against 1.59 s"),
    Mutant(
        "uncut_calls_take_the_choice_before_their_kernel_is_ready", "fastmlp/backends/numba.py",
        "        if parts is None and key not in _own_ready:\n",
        "        if False:\n",
        ("tests/test_chunked_epochs.py::test_a_cut_training_times_no_product_before_its_first_batch",),
        "the calls not cut take the products' choice as soon as it is measured: their kernel with it compiles "
        "under the training, not in the thread"),
    Mutant(
        "cut_thread_leaves_the_uncut_calls_kernel_to_them", "fastmlp/backends/numba.py",
        "                for each in (net, uncut):\n",
        "                for each in (net,):\n",
        ("tests/test_chunked_epochs.py::test_a_cut_training_times_no_product_before_its_first_batch",),
        "the thread that prepares the cut kernel does not prepare the uncut calls' kernel with the choice: the "
        "first of them compiles it under the training"),
    Mutant(
        "register_blocks_compiled_per_literal_start", "kernels/matmul.py",
        "            _sparse_columns(out, x, W, kept, counts, listed, lo, hi, first, k)",
        "            _sparse_columns(out, x, W, kept, counts, listed, lo, hi, 0, k)",
        ("tests/test_matmul.py::test_the_register_blocks_compile_once_whatever_the_ranges",),
        "the cut product by columns passes a literal 0: Numba compiles the register blocks once more for it (6 s "
        "of a cold compile on Intel Xeon model 207)"),
    Mutant(
        "row_product_at_256_bits", "kernels/inference.py",
        "    wide_vectors()  # the block's sums in 16 AVX-512 registers, not 32 of 256 bits (all there are: spilled)\n",
        "",
        ("tests/test_inference.py::test_row_product_sums_in_the_widest_registers",),
        "the one-row path's product compiled at LLVM's preferred 256 bits: its 1 KB of sums spill (one-row calls "
        "about 20% slower on AVX-512)"),
    Mutant(
        "blocks_never_sparse", "kernels/inference.py",
        "        elif net.own[l] & OWN_SPARSE and l == 0 and _lists_fit(lists, a_in, W.shape[1]):\n",
        "        elif False and net.own[l] & OWN_SPARSE and l == 0 and _lists_fit(lists, a_in, W.shape[1]):\n",
        ("tests/test_inference_blocks.py",),
        "inference by blocks: the first layer's product never over the block's nonzero inputs"),
    Mutant(
        "blocks_hidden_layers_never_sparse", "kernels/inference.py",
        "        elif net.own[l] & OWN_SPARSE and l > 0 and _sparse_lists_fit(lists, a_in):\n",
        "        elif False and net.own[l] & OWN_SPARSE and l > 0 and _sparse_lists_fit(lists, a_in):\n",
        ("tests/test_inference_blocks.py",),
        "inference by blocks: a hidden layer's product never over the zeros of the layer below"),
    Mutant(
        "sparse_choice_times_only_the_first_layer", "fastmlp/backends/products.py",
        "    for l in np.flatnonzero(own & OWN_FORWARD):\n        ways[int(l)] = own.copy()",
        "    for l in np.flatnonzero(own & OWN_FORWARD)[:1]:\n        ways[int(l)] = own.copy()",
        ("tests/test_inference_blocks.py",),
        "inference by blocks: only the first layer timed (and so taken) summing over its nonzero inputs"),
    Mutant(
        "sparse_choice_without_its_margin", "fastmlp/backends/products.py",
        "best[way] < (1 - SPARSE_MARGIN) * best[None]",
        "best[way] < best[None]",
        ("tests/test_inference_blocks.py",),
        "inference by blocks: a layer sums over its nonzero inputs where a call ran faster so by any noise"),
    Mutant(
        "sparse_choice_counts_the_untimed_round", "fastmlp/backends/products.py",
        "    for way in ways:\n        run(way)\n    for _ in range(timings):",
        "    for _ in range(timings):",
        ("tests/test_inference_blocks.py",),
        "the choices by timing (own products, inference's sums over nonzero inputs) timed with no untimed round first "
        "(kernels loading, caches cold)"),
    Mutant(
        "sparse_choice_timed_on_the_whole_call", "fastmlp/backends/products.py",
        "min(X.shape[0], SPARSE_ROWS)",
        "X.shape[0]",
        ("tests/test_inference_blocks.py",),
        "inference by blocks: the sums over nonzero inputs timed on all of a call's rows (10,000: seconds, once)"),
    Mutant(
        "blocks_call_keeps_the_net_from_before_the_choice", "fastmlp/backends/numba.py",
        "            elif blocks is not self._blocks_net_vector and blocks is not self._blocks_net:",
        "            elif False:",
        ("tests/test_inference_blocks.py::test_a_call_that_met_the_choice_in_another_thread_takes_it",),
        "inference by blocks: a call that took the blocks' network while another thread's call timed the sums over "
        "nonzero inputs runs on the network from before the choice (its sums paired otherwise than the same call's "
        "after it)"),
    Mutant(
        "first_call_by_blocks_leaves_the_tiles", "fastmlp/backends/numba.py",
        "lock, typed, bool((blocks.own & OWN_TILES).any()))",
        "lock, typed, False)",
        ("tests/test_inference_blocks.py::test_a_model_times_the_sparse_sums_on_its_first_call_s_rows_on_one_thread",),
        "inference by blocks: the call that times the sums over nonzero inputs runs itself off the AMX tiles its "
        "network had (other last bits than the same call after it; skipped where AMX cannot run)"),
    Mutant(
        "sparse_choice_timed_on_every_thread", "fastmlp/backends/numba.py",
        "        with lock or contextlib.nullcontext(), thread_choice.numba_one_thread():\n            own = products",
        "        with lock or contextlib.nullcontext():\n            own = products",
        ("tests/test_inference_blocks.py",),
        "inference by blocks: the sums over nonzero inputs timed on the pool's threads, a block each (the pool's "
        "spin and the other core's load in every timing)"),
    Mutant(
        "one_thread_pieces_take_own_products", "fastmlp/backends/products.py",
        "    threads = numba.config.NUMBA_NUM_THREADS\n    if thread_choice",
        "    threads = numba.get_num_threads()\n    if thread_choice",
        ("tests/test_thread_choice.py",),
        "the thread choice's pieces on one thread take the own products: a seeded fit's bits depend on its timing"),
    Mutant(
        "sparse_cut_skips_the_first_piece", "kernels/matmul.py",
        "        if lo < hi:\n            _sparse_columns(",
        "        if lo < hi and p > 0:\n            _sparse_columns(",
        ("tests/test_matmul.py",),
        "the first layer's product cut over threads leaves the first piece's columns unwritten"),
    Mutant(
        "sparse_cut_taken_beside_the_blas_threads", "fastmlp/backends/products.py",
        "    if thread_choice.is_deterministic() or (threads >= 2 and not cut):\n",
        "    if thread_choice.is_deterministic():\n",
        ("tests/test_matmul.py",),
        "plain SGD's training on several threads takes the cut sparse product beside the BLAS's spinning threads"),
    Mutant(
        "sparse_cut_timed_uncut", "fastmlp/backends/products.py",
        "                own_s, best = _timed(arch, rows, 0, rng, batch, threads)\n",
        "                own_s, best = _timed(arch, rows, 0, rng, batch)\n",
        ("tests/test_matmul.py",),
        "the cut product is timed as one call on one thread, the BLAS as one call: not what the training runs"),
    Mutant(
        "records_a_late_process_keeps_its_own", "fastmlp/backends/records.py",
        "            if found is not None:  # another process wrote it first: its choice is the machine's\n",
        "            if False:\n",
        ("tests/test_records.py",),
        "a process that measured while another recorded keeps its own choice: the two round differently"),
    Mutant(
        "own_products_measured_in_every_process", "fastmlp/backends/records.py",
        "    found = _read(path, text, valid)\n    if found is not None:\n        return found[0]\n",
        "    found = None\n",
        ("tests/test_records.py",),
        "every process measures the own products again: a seeded fit on one core may round otherwise"),
    Mutant(
        "matmul_tn_reads_out_at_beta_0", "kernels/matmul.py",
        "        if beta == 0:\n",
        "        if False:\n",
        ("tests/test_matmul.py",),
        "numba own weight product: with beta 0 it reads out (0 * NaN: a stale NaN in dW poisons the gradient)"),
    Mutant(
        "training_scratch_sized_by_the_smallest", "fastmlp/backends/numba.py",
        "        need = max((k * n for flag",
        "        need = min((k * n for flag",
        ("tests/test_matmul.py",),
        "the transposed-W scratch holds the smallest flagged W: a larger one is transposed past its end"),
    Mutant(
        "inference_blocks_share_the_layer_views", "kernels/inference.py",
        "dst = out[i0:i1] if l == last else matrix(scratch, (l % 2) * half + i0 * width, i1 - i0, net.lay[l, N_OUT])",
        "dst = out[i0:i1] if l == last else matrix(scratch, (l % 2) * half, m, net.lay[l, N_OUT])[i0:i1]",
        ("tests/test_inference_blocks.py",),
        "numba inference by blocks: each block's hidden layers in its rows of the whole-call (m, n) views, where "
        "one block's third layer lands on another's first (a race)"),
    Mutant(
        "inference_blocks_count_one_block", "kernels/inference.py",
        "        bad += counts[t]\n",
        "        bad = counts[t]\n",
        ("tests/test_inference_blocks.py",),
        "numba inference by blocks: only the last block's count of NaN, inf or too large values is reported"),
    Mutant(
        "thread_choice_only_long_pieces_judge", "fastmlp/backends/thread_choice.py",
        "            pool = (pool[0] + samples, pool[1] + seconds)\n",
        "            continue\n",
        ("tests/test_thread_choice.py",),
        "the thread choice judges a way only by pieces of STEADY_SECONDS or more: on a CPU that runs every piece "
        "on all threads faster, the few the scheduler slowed decide, or nothing does"),
    Mutant(
        "thread_choice_probe_never_gives_up_all_threads", "fastmlp/backends/thread_choice.py",
        "        return one > 0 and seconds > GIVE_UP * samples / one + GIVE_UP_SLACK\n",
        "        return False\n",
        ("tests/test_thread_choice.py",),
        "a probe runs its whole piece on all threads however slow: on a busy core one piece can run for seconds"),
    Mutant(
        "thread_choice_one_thread_rechecked_only_every_recheck_seconds", "fastmlp/backends/thread_choice.py",
        "            self._recheck, self._one_wait = self._one_wait, "
        "min(2 * self._one_wait, ONE_RECHECK_MAX_SECONDS)\n",
        "            self._recheck = RECHECK_SECONDS\n",
        ("tests/test_thread_choice.py",),
        "one thread kept by a probe in a slow spell of the other core stays for RECHECK_SECONDS"),
    Mutant(
        "thread_choice_new_kernel_always_probes", "fastmlp/backends/thread_choice.py",
        "        if self.kept != ALL:\n",
        "        if True:\n",
        ("tests/test_thread_choice.py",),
        "the cut kernel, once ready, is probed at once: its slow first calls keep one thread"),
    Mutant(
        "cut_kernel_taken_in_the_call_it_became_ready", "fastmlp/backends/numba.py",
        "            elif key not in self._cut_measured:\n",
        "            elif False:\n",
        ("tests/test_split.py",),
        "a cut kernel ready since the call began runs at once: the thread choice judges it by the uncut speed"),
    Mutant(
        "inference_blocks_sized_by_the_way_taken", "fastmlp/backends/numba.py",
        "                    size = products.block_rows(min(step, n - s), threads)\n",
        "                    size = products.block_rows(min(step, n - s), numba.get_num_threads())\n",
        ("tests/test_inference_blocks.py",),
        "the blocks sized by the thread count of the way taken: one thread and all threads round rows otherwise"),
    Mutant(
        "inference_one_thread_kept_for_recheck_seconds", "fastmlp/backends/thread_choice.py",
        "        self._warm = False  # whether the first call went by\n",
        "        self._warm = False  # whether the first call went by\n        self._one_wait = RECHECK_SECONDS\n",
        ("tests/test_thread_choice.py",),
        "inference keeps one thread 10 s after a probe in the BLAS's spin: idle 256-row calls at one thread's speed"),
    Mutant(
        "blocks_given_up_after_one_slow_measurement", "fastmlp/backends/products.py",
        "                best[l] = (min(o, o2), min(b, b2))\n",
        "                best[l] = (o2, b2)\n",
        ("tests/test_inference_blocks.py",),
        "a verdict against the blocks is measured again but only the last try counts: a try in a slow spell decides"),
    Mutant(
        "thread_choice_judges_pieces_run_beside_a_cut_compile", "fastmlp/backends/numba.py",
        "                if not (compiling or _cut_compiling):\n",
        "                if True:\n",
        ("tests/test_thread_choice.py",),
        "pieces slowed by the cut kernel's compile thread judge: a drop, then a probe that keeps one thread"),
    Mutant(
        "cache_index_saved_without_the_lock", "kernels/intrinsics.py",
        "        with self._index_locked():\n",
        "        with contextlib.nullcontext():\n",
        ("tests/test_intrinsics.py::"
         "test_a_writer_between_anothers_read_and_write_of_the_index_waits_and_both_entries_stay",),
        "kernel cache: the index read, extended and written without the lock, so a second writer's entry can be lost"),
    Mutant(
        "helper_entry_kept_for_python_calls", "kernels/intrinsics.py",
        "        if not is_helper(self):\n            own[\"insert\"](self, *args)\n",
        "        own[\"insert\"](self, *args)\n",
        ("tests/test_intrinsics.py::"
         "test_a_helper_called_from_python_raises_naming_it_even_after_a_kernel_compiled_it",),
        "a helper's entry point kept for Python calls: once a kernel compiled it, calling it from Python crashes"),
    Mutant(
        "helper_compiled_for_a_python_call", "kernels/intrinsics.py",
        "        if is_helper(self):\n            raise called_from_python(self.py_func)\n",
        "",
        ("tests/test_intrinsics.py::"
         "test_every_helper_and_overload_declaration_in_the_kernels_raises_when_python_calls_it",),
        "a helper called from Python compiled as any function: no clear error (a typing error, or a crash)"),
    Mutant(
        "overload_declaration_does_nothing_from_python", "kernels/optimizers.py",
        "@kernel_only\ndef apply_update(",
        "def apply_update(",
        ("tests/test_intrinsics.py::"
         "test_every_helper_and_overload_declaration_in_the_kernels_raises_when_python_calls_it",),
        "an @overload declaration left as its docstring: called from Python it returns None and updates nothing"),
    Mutant(
        "probe_judges_a_new_kernels_first_calls", "fastmlp/backends/thread_choice.py",
        "        if way == ALL and self._settling > 0:  # a new kernel's first calls (``kernel_changed``)\n",
        "        if False:\n",
        ("tests/test_thread_choice.py::"
         "test_a_probe_after_a_kernel_change_judges_all_threads_by_the_new_kernel_after_its_first_calls",),
        "the cut kernel's slow first calls judge the probe after its arrival: one thread kept for 2 s more"),
    Mutant(
        "narrow_product_drops_the_last_input", "kernels/dense.py",
        "    for p in range(k):\n        for j in range(n):\n            WT[j, p] = W[p, j]\n",
        "    for p in range(k - 1):\n        for j in range(n):\n            WT[j, p] = W[p, j]\n",
        ("tests/test_inference_blocks.py::test_narrow_layers_by_blocks_give_the_reference",),
        "a narrow layer's W transposed without its last row: its products by blocks miss one input"),
    Mutant(
        "blocks_write_probabilities_without_classes", "kernels/inference.py",
        "        if proba.size > 0:\n",
        "        if proba.shape[0] > 0:\n",
        ("tests/test_inference_blocks.py::test_a_proba_without_classes_is_left_alone",),
        "an (m, 0) proba (mse) taken for one to fill: each row's softmax written past it"),
    Mutant(
        "rounds_counted_from_the_validation_epoch", "bench/measure.py",
        '    k = epochs_per_round(warm / made if made else v["epoch_s"], min_round_s)\n',
        '    k = epochs_per_round(v["epoch_s"], min_round_s)\n',
        ("tests/test_bench_report.py::test_the_rounds_are_counted_from_the_warm_ups_pace_not_the_validations",),
        "a training's timed rounds sized by its validation epoch: a slow one (compiling, a probe) shortens each round"),
    Mutant(
        "no_stepping_aside_while_a_cut_kernel_compiles", "fastmlp/backends/numba.py",
        "        aside = step_aside and not one_thread and bool(_cut_compiling)\n",
        "        aside = False\n",
        ("tests/test_thread_choice.py::test_pieces_run_while_a_cut_kernel_compiles_step_aside_and_do_not_judge",),
        "all threads run beside the thread compiling a cut kernel, which takes a core: a quarter of the speed"),
    Mutant(
        "epoch_keeps_denormals", "kernels/epoch.py",
        "    mode = flush_denormals(flushes(hyper))  # see the module docstring\n",
        "    mode = flush_denormals(False)  # see the module docstring\n",
        ("tests/test_epoch_denormals.py",),
        "an epoch's products with denormals unflushed: Adam with weight decay at two thirds of its speed"),
    Mutant(
        "online_epoch_keeps_denormals", "kernels/online.py",
        "    mode = flush_denormals(flushes(hyper))  # as every epoch (``epoch``)\n",
        "    mode = flush_denormals(False)  # as every epoch (``epoch``)\n",
        ("tests/test_epoch_denormals.py",),
        "the online epoch of any optimizer with denormals unflushed outside its first layer's update"),
    Mutant(
        "pieces_keep_their_threads_mode", "kernels/split.py",
        "        old = enter_fp_mode(mode)\n        lo, hi = piece(m, parts, t, 1) if rows else piece(n, parts, t, ALIGN)\n",
        "        old = enter_fp_mode(flush_denormals(False))\n"
        "        lo, hi = piece(m, parts, t, 1) if rows else piece(n, parts, t, ALIGN)\n",
        ("tests/test_split.py::test_every_piece_of_a_cut_product_computes_in_its_callers_floating_point_mode",),
        "a cut product's pieces in their own threads' mode: denormals unflushed there with the workqueue or omp layer"),
    Mutant(
        "sklearn_trains_any_optimizer", "bench/peers/runner.py",
        '    if name != "sklearn" or opt.kind in SKLEARN_OPTIMIZERS:\n',
        "    if True:\n",
        ("tests/test_bench_rows.py::test_each_training_variant_trains_the_optimizer_rows",),
        "scikit-learn given a task on the RMSprop and Adagrad rows, which its MLPClassifier cannot train"),
    Mutant(
        "tiles_three_products", "kernels/tiles.py",
        "            for pb in range(PARTS - pa):\n",
        "            for pb in range(PARTS - pa - 1):\n",
        ("tests/test_tiles.py::test_a_tile_product_is_within_float32_rounding_of_float64",
         "tests/test_tiles.py::test_a_weight_product_on_tiles_is_the_tile_product_of_the_transposes"),
        "AMX tile products of the parts hi.hi, hi.mid and mid.hi only: about 16 bits where float32 has 24 (the "
        "weight product's too: the same sums)"),
    Mutant(
        "cut_call_adds_into_stale_gradients", "kernels/epoch.py",
        "    clear_cut_gradients(grads, net, hyper, plan.order.shape[0])\n",
        "",
        ("tests/test_split.py::test_a_cut_call_after_an_uncut_one_that_left_its_gradients_trains_the_same_weights",),
        "a cut epoch call does not clear the gradient buffer first: its first step adds W's gradient onto what the "
        "uncut call before it (the thread choice's one-thread piece) left there"),
    Mutant(
        "cut_adam_leaves_its_gradients", "kernels/optimizers.py",
        "        p[i], m[i], v[i] = adam_element(p[i], m[i], v[i], g[i], c)\n        spend(g, spent, i)\n",
        "        p[i], m[i], v[i] = adam_element(p[i], m[i], v[i], g[i], c)\n",
        ("tests/test_split.py::test_the_epoch_kernel_cut_over_threads_trains_the_same_weights",),
        "Adam's update on a cut layer leaves the gradients it read: each cut step adds the new gradient onto the "
        "last one"),
    Mutant(
        "tiles_paid_for_unpadded_rows", "fastmlp/backends/products.py",
        "    saved = rows * costs.matmul_row - (full * _tile_rows(size) + _tile_rows(last)) * costs.tiles_row\n",
        "    saved = rows * (costs.matmul_row - costs.tiles_row)\n",
        ("tests/test_tiles.py::test_a_call_takes_the_tiles_where_its_blocks_save_more_than_the_pass_costs",),
        "a call's blocks counted on the tiles for their rows, not for whole blocks of 32: 192-row calls in blocks of "
        "48 take the tiles and run slower"),
    Mutant(
        "products_timed_on_operands_anywhere", "fastmlp/backends/products.py",
        "    out = buffers.empty(shape, dtype)\n    out[...] = rng.standard_normal(shape)\n",
        "    out = np.empty(shape, dtype)\n    out[...] = rng.standard_normal(shape)\n",
        ("tests/test_matmul.py::test_the_products_are_timed_on_operands_that_start_on_a_cache_line_as_a_call_s",),
        "the products timed on NumPy's arrays, which start anywhere on 16 bytes: matmul timed 20% slower than a call "
        "runs it, in most processes"),
    Mutant(
        "tiles_packed_once", "kernels/inference.py",
        "                changed |= flags[p] != 0\n",
        "                changed |= False\n",
        ("tests/test_tiles.py::test_the_packed_weights_follow_the_params",),
        "inference on AMX tiles keeps the weights packed at its first call: the old weights' predictions after a fit"),
    Mutant(
        "tiles_compare_misses_a_chunks_last_value", "kernels/inference.py",
        "        x, y = a[s:s + SAME_BITS_CHUNK], b[s:s + SAME_BITS_CHUNK]\n",
        "        x, y = a[s:s + SAME_BITS_CHUNK - 1], b[s:s + SAME_BITS_CHUNK - 1]\n",
        ("tests/test_tiles.py::test_the_weights_compare_equal_only_bit_for_bit",),
        "the weights' comparison before a call on AMX tiles skips the last value of each chunk: a weight changed "
        "there is not packed again"),
    Mutant(
        "tiles_high_part_rounded", "kernels/tiles.py",
        "    hi = np.uint32(u & HIGH)  # truncated",
        "    hi = _round_high(u)  # truncated",
        ("tests/test_tiles.py::test_the_three_parts_sum_to_the_value_exactly",
         "tests/test_tiles.py::test_the_packed_weights_are_the_layout_s_parts_column_tiles_at_a_time"),
        "the high part rounded, not truncated: the float32 maximum's rounds up to inf (NaN in the product), in the "
        "packed rows and the packed weights"),
    Mutant(
        "weight_tiles_stored_untransposed", "kernels/tiles.py",
        "                    row[j] = edge[j * w + i]\n",
        "                    row[j] = edge[i * w + j]\n",
        ("tests/test_tiles.py::test_a_weight_product_on_tiles_is_the_tile_product_of_the_transposes",),
        "the weight product on tiles writes dW.T's tiles as they are, not transposed"),
    Mutant(
        "transposed_packing_square_not_transposed", "kernels/tiles.py",
        "                            square[j * TILE_ROWS + a] = row[j]\n",
        "                            square[a * TILE_ROWS + j] = row[j]\n",
        ("tests/test_tiles.py::test_a_matrix_s_columns_are_packed_as_pack_rows_packs_its_transpose",),
        "dz's columns packed as rows: the 16 x 16 squares inside the matrix left untransposed"),
    Mutant(
        "weight_tiles_room_over_the_forward_s", "kernels/network.py",
        "        start = size + net.parts * room if net.own[0] & OWN_TILES else 0\n",
        "        start = 0\n",
        (TILES_TRAINING,),
        "the weight product's operands packed over the forward's packed W and rooms"),
    Mutant(
        "weight_tiles_rows_not_updated", "kernels/split.py",
        "            if weights is not None:\n                r0, r1 = c0 * N_TILE * n",
        "            if weights is None:\n                r0, r1 = c0 * N_TILE * n",
        (TILES_TRAINING,),
        "the rows of dW made on the tiles never update W"),
    Mutant(
        "weight_tiles_chosen_without_the_margin", "fastmlp/backends/products.py",
        "                if _faster(tiles_s, blas_s):\n                    flags |= OWN_DW_TILES\n",
        "                if tiles_s < blas_s:\n                    flags |= OWN_DW_TILES\n",
        ("tests/test_tiles.py::test_a_cut_training_s_first_layer_takes_the_fastest_way_by_the_margin",),
        "the first layer's weight product taken to the tiles when faster by any amount"),
    Mutant(
        "nesterov_fused_keeps_no_previous_velocity", "kernels/optimizers.py",
        "    return lambda first, second, kind: keep_velocity(second, first)\n",
        "    return lambda first, second, kind: None\n",
        ("tests/test_split.py::test_a_cut_layer_step_is_the_backward_then_the_update", SIZES_MATRIX),
        "Nesterov's velocity before the step not copied before the product overwrites it: the gradient is "
        "recovered from whatever the second slot held"),
    Mutant(
        "nesterov_fused_steps_as_plain_momentum", "kernels/optimizers.py",
        "        p[i] = p[i] - c.lr * ((v - c.momentum * previous[i]) + c.momentum * v)\n",
        "        p[i] = p[i] - c.lr * v\n",
        ("tests/test_optimizers.py::test_nesterov_descend_recovers_the_gradient_from_the_two_velocities",
         "tests/test_split.py::test_a_cut_layer_step_is_the_backward_then_the_update", SIZES_MATRIX),
        "Nesterov's fused step by the velocity alone, as plain momentum's: the look-ahead lost"),
    Mutant(
        "nesterov_decoupled_decay_fused", "fastmlp/backends/numba.py",
        "    decay = form != K.optimizers.PLAIN and hyper.decoupled_weight_decay != 0\n",
        "    decay = form == K.optimizers.MOMENTUM and hyper.decoupled_weight_decay != 0\n",
        ("tests/test_regularisation.py", SIZES_MATRIX),
        "Nesterov with decoupled weight decay takes the fused velocity path, which does not decay: the decay is "
        "dropped where a layer's products go to the BLAS"),
    Mutant(
        "copy_ahead_over_the_batch_in_use", "kernels/epoch.py",
        "        job = copy_ahead(ahead if here == 0 else batch, data, to_copy(plan, following, n))\n",
        "        job = copy_ahead(batch if here == 0 else ahead, data, to_copy(plan, following, n))\n",
        ("tests/test_split.py::test_copying_each_next_batch_ahead_trains_the_same_bits",),
        "the cut kernel copies the next batch into the buffers its first layer's step is reading (the current "
        "batch's), not into the other ones"),
    Mutant(
        "copy_ahead_pieces_drop_their_last_row", "kernels/batches.py",
        "                    job.order, m * t // parts, m * (t + 1) // parts)\n",
        "                    job.order, m * t // parts, m * (t + 1) // parts - 1)\n",
        ("tests/test_batches.py", "tests/test_split.py::test_copying_each_next_batch_ahead_trains_the_same_bits"),
        "each piece of the next batch's copy stops a row short: those rows keep the batch from two steps before"),
    Mutant(
        "blas_spin_left_in_the_environment", "fastmlp/blas_spin.py",
        "        if set_here:\n            del os.environ[VARIABLE]\n",
        "        if set_here:\n            pass\n",
        ("tests/test_blas_spin.py",),
        "the short spin's variable stays in the environment after NumPy loaded: every child process the user starts "
        "inherits it"),
    Mutant(
        "blas_spin_restart_beside_other_threads", "fastmlp/blas_spin.py",
        "    if VARIABLE in os.environ or threading.active_count() > 1:\n",
        "    if VARIABLE in os.environ:\n",
        ("tests/test_blas_spin.py",),
        "OpenBLAS's threads are restarted while another Python thread runs, which could be inside a BLAS call "
        "(a restart under it would hang it)"),
    Mutant(
        "forward_over_k_drops_the_second_piece", "kernels/split.py",
        "        restore_fp_mode(old)\n    add_partial(C, partial)\n",
        "        restore_fp_mode(old)\n",
        ("tests/test_matmul.py::test_the_first_layer_s_product_cut_along_k_sums_each_piece_s_rows_of_w_then_adds",
         "tests/test_split.py::test_the_epoch_kernel_cut_over_threads_trains_the_same_weights"),
        "the first layer's BLAS product cut along k leaves out the second piece's sums (over the rows of W of the "
        "second thread)"),
    Mutant(
        "sparse_over_k_both_pieces_into_the_output", "kernels/matmul.py",
        "_sparse_columns(out if p == 0 else P, x, W, kept, counts, listed, first, n, lo, hi)",
        "_sparse_columns(out, x, W, kept, counts, listed, first, n, lo, hi)",
        ("tests/test_matmul.py::test_the_first_layer_s_product_cut_along_k_sums_each_piece_s_rows_of_w_then_adds",),
        "the own product over nonzero inputs cut along k writes both pieces' sums into the output (a race; the "
        "partial added is stale)"),
    Mutant(
        "tile_span_from_position_zero", "kernels/matmul.py",
        "        return lambda kept, counts, t, k, k_lo, k_hi: (k_lo, k_hi - k_lo)\n",
        "        return lambda kept, counts, t, k, k_lo, k_hi: (0, k_hi - k_lo)\n",
        ("tests/test_matmul.py::test_the_first_layer_s_product_cut_along_k_sums_each_piece_s_rows_of_w_then_adds",),
        "a tile summing over every position of a range of k (no lists) starts at position 0, not the range's start"),
    Mutant(
        "tile_span_listed_range_one_short", "kernels/matmul.py",
        "        return start, _first_from(kept, start, end, k_hi) - start\n",
        "        return start, _first_from(kept, start, end, k_hi) - start - 1\n",
        ("tests/test_matmul.py",),
        "a tile's listed positions in a range of k lose their last one"),
    Mutant(
        "packed_pair_inputs_swapped", "kernels/tiles.py",
        "        hi[j] = (h0 >> 16) | h1\n",
        "        hi[j] = (h1 >> 16) | h0\n",
        ("tests/test_tiles.py::test_the_packed_weights_are_the_layout_s_parts_column_tiles_at_a_time",),
        "the packed weights' tile rows hold each pair of inputs' top parts the other way round"),
    Mutant(
        "packed_edge_rows_not_cleared", "kernels/tiles.py",
        "                    for j in range(2 * N_TILE):\n                        edge[j] = zero\n",
        "",
        ("tests/test_tiles.py::test_the_packed_weights_are_the_layout_s_parts_column_tiles_at_a_time",),
        "the packed weights beyond W's last input or column keep what the stack held (not 0)"),
    Mutant(
        "tile_forward_packs_one_piece_s_columns_only", "kernels/split.py",
        "        c0, c1 = piece(n_tiles(n), pieces, t, 2)\n",
        "        c0, c1 = piece(n_tiles(n), pieces, 0, 2)\n",
        ("tests/test_tiles.py::test_the_cut_tile_forward_gives_each_row_the_bits_of_one_tile_product",),
        "a training's first layer on tiles: every thread packs the first piece's column tiles of W, the rest stale"),
    Mutant(
        "tile_forward_rows_cut_by_parts_not_rooms", "kernels/split.py",
        "    pieces = parts if parts < rooms else rooms  # (a room for each piece's packed rows)\n",
        "    pieces = parts\n",
        ("tests/test_tiles.py::test_the_cut_tile_forward_gives_each_row_the_bits_of_one_tile_product",),
        "a training's first layer on tiles cut into more pieces than its room holds (past the buffer's end)",
        timeout=300.0),
    Mutant(
        "plain_sgd_never_cut_for_the_tiles", "fastmlp/backends/numba.py",
        "    return own is not None and bool(own[0] & OWN_TILES)\n",
        "    return False\n",
        ("tests/test_split.py::test_plain_sgd_trains_by_the_cut_kernel_where_its_first_layer_takes_the_tiles",),
        "plain SGD stays on the fused kernel where its first layer took the tiles (which then never run)"),
    Mutant(
        "cut_measure_takes_the_tiles_without_the_margin", "fastmlp/backends/products.py",
        "                if _faster(tiles_s, min(best, blas_s)):\n",
        "                if tiles_s < min(best, blas_s):\n",
        ("tests/test_tiles.py::test_a_cut_training_s_first_layer_takes_the_fastest_way_by_the_margin",),
        "a cut training's first layer takes the tiles when faster by any amount, not by the margin"),
    Mutant(
        "tbb_pool_start_never_waited", "kernels/intrinsics.py",
        "    if threading_layer() == \"tbb\":\n",
        "    if False:\n",
        ("tests/test_fork.py::test_forked_pool_trains_after_the_parent_trained[one]",),
        "Numba's TBB pool's start task left queued: a process of one core that forks a pool after training never exits",
        timeout=600.0),
    Mutant(
        "loaded_parallel_code_without_the_pool", "kernels/intrinsics.py",
        "            if _mentions(data, POOL_SYMBOL):\n",
        "            if False:\n",
        ("tests/test_intrinsics.py::test_a_cached_kernel_that_runs_a_parallel_region_starts_the_pool_when_loaded",),
        "a cached kernel whose entry does not start the thread pool, loaded first in a process, crashes in its "
        "parallel region", timeout=600.0),
    Mutant(
        "plain_sgd_cut_on_one_thread", "fastmlp/backends/numba.py",
        "        return (numba.get_num_threads() > 1 and _plain_cut_key(",
        "        return (numba.get_num_threads() > 0 and _plain_cut_key(",
        ("tests/test_split.py::test_plain_sgd_takes_its_cut_kernel_once_ready_and_fused_on_one_thread",),
        "plain SGD whose cut kernel is ready takes it on one thread too (a count of one, the thread choice's pieces "
        "there), where 'fused' trains faster"),
    Mutant(
        "evaluation_compiles_every_loss", "fastmlp/backends/numba.py",
        EVALUATION_NET, EVALUATION_NET.replace("self._scoring_nets[weighted]", "self.arch.net"),
        ("tests/test_compiled_specialisations.py::test_an_evaluation_compiles_its_loss_only",),
        "evaluate passes the loss as a runtime id: every loss compiled behind a test of it (a first evaluation of "
        "the fashion net 4.5 s instead of 1.4)"),
    Mutant(
        "weighted_evaluation_reads_no_weights", "fastmlp/backends/numba.py",
        EVALUATION_NET, EVALUATION_NET.replace("_nets[weighted]", "_nets[0]"),
        ("tests/test_compiled_specialisations.py::test_a_weighted_evaluation_has_its_own_specialisation",
         "tests/test_sample_weight.py"),
        "evaluate with sample weights compiles the unweighted loss body: the weights are never read"),
    Mutant(
        "exit_waits_for_a_compile_in_silence", "fastmlp/backends/numba.py",
        "    if seconds > 0:\n        _stderr_line(f\"fastmlp: waiting for the kernels",
        "    if seconds > 1e9:\n        _stderr_line(f\"fastmlp: waiting for the kernels",
        ("tests/test_compiling_aside.py::test_a_process_that_waits_at_exit_for_a_compile_says_so",),
        "a process whose main thread ended waits for the kernels compiling in the background without a word"),
    Mutant(
        "first_inference_compiles_in_silence", "fastmlp/backends/numba.py",
        "    timer = threading.Timer(COMPILE_NOTICE_AFTER_S, say)",
        "    timer = threading.Timer(COMPILE_NOTICE_AFTER_S * 1e6, say)",
        ("tests/test_compiling_aside.py::test_a_model_s_first_inference_that_takes_long_says_so",),
        "a model's first prediction or evaluation compiles its kernels for seconds (12.6 s for the fashion net's first "
        "prediction) without a word"),
    Mutant(
        "every_evaluation_is_a_first", "fastmlp/backends/numba.py",
        "        self._evaluated.add(weighted)",
        "        self._evaluated.discard(weighted)",
        ("tests/test_compiling_aside.py::test_a_model_s_first_inference_that_takes_long_says_so",),
        "every evaluation of a model counts as its first: each that takes long says it compiles"),
    Mutant(
        "fit_ends_in_silence_while_kernels_compile", "fastmlp/trainer.py",
        "                if aside > 0:  # even one begun",
        "                if aside > 1e9:  # even one begun",
        ("tests/test_compiling_aside.py::test_a_fit_that_ends_while_kernels_compile_aside_says_so",),
        "a fit that ends while kernels compile beside it says nothing of the waits they cause"),
    Mutant(
        "cut_kernel_load_counted_as_a_compile", "fastmlp/backends/numba.py",
        "                               compile_cut, loads=early)",
        "                               compile_cut, loads=False)",
        ("tests/test_split.py::test_a_cut_kernel_that_would_load_is_prepared_from_the_first_call",),
        "a cut kernel that only loads from the cache counts as a compile beside the training: a short fit's last line "
        "says kernels still compile, and a first prediction that it waits for them"),
    Mutant(
        "every_typed_prediction_is_a_first", "fastmlp/backends/numba.py",
        "            self._predicted = True\n",
        "            self._predicted = self._predicted\n",
        ("tests/test_compiling_aside.py::test_only_a_model_s_first_prediction_starts_a_notice",),
        "a model never counts a prediction as made: each call opens the first call's notice, a timer thread (a row "
        "of float64 for a float32 model 15 -> 100 us)"),
    Mutant(
        "derived_views_not_watched", "fastmlp/aliases.py",
        "        watch = weakref.ref(current.base, lambda gone: alive.pop(id(gone), None))",
        "        watch = weakref.ref(current, lambda gone: alive.pop(id(gone), None))",
        ("tests/test_aliases.py", "tests/test_tiles.py::test_a_call_compares_the_weights_only_when_someone_could_have_"
         "written_them"),
        "the array handed out is watched, not the memoryview under it: a slice of model.W[0] kept after the list is "
        "dropped writes into weights a prediction on tiles trusts unchanged"),
    Mutant(
        "hand_outs_not_counted", "fastmlp/aliases.py",
        "        self._handed += 1\n",
        "        self._handed += 0\n",
        ("tests/test_aliases.py", "tests/test_tiles.py::test_a_call_compares_the_weights_only_when_someone_could_have_"
         "written_them"),
        "an array handed out and dropped between two predictions is not counted: b[1] changed in place, or a fit, "
        "leaves the tiles' weights as they were"),
    Mutant(
        "trusted_while_an_array_lives", "fastmlp/backends/numba.py",
        "        return quiet is not None and self.quiet == quiet and self.params is params",
        "        return self.quiet == quiet and self.params is params",
        ("tests/test_tiles.py::test_a_call_compares_the_weights_only_when_someone_could_have_written_them",),
        "a call trusts the packed weights while an array over them lives (both numbers None): writes through a held "
        "model.W are not predicted from"),
    Mutant(
        "model_reads_through_a_hand_out", "fastmlp/model.py",
        "        total, correct = self._impl.evaluate(self._params, X, yi, t, w)",
        "        total, correct = self._impl.evaluate(self.params, X, yi, t, w)",
        ("tests/test_aliases.py::test_reading_the_model_hands_nothing_out",),
        "an evaluation reads the weights through an array it hands out: every evaluation between two predictions "
        "makes the next compare the weights again"),
    Mutant(
        "every_tile_layer_sets_the_count", "kernels/inference.py",
        "            if l == 0:\n                bad = count",
        "            if l >= 0:\n                bad = count",
        ("tests/test_inference_blocks.py::test_blocks_give_what_whole_layers_give",),
        "each layer on the tiles sets a block's count of bad inputs, the last one's (its hidden values, 0) last: NaN "
        "and inf inputs predicted from without a word", timeout=1800.0),
    Mutant(
        "packed_rows_counted_unless_asked", "kernels/tiles.py",
        "            if screened:\n                bad += count_row(x[i0 + r], lim)",
        "            if True:\n                bad += count_row(x[i0 + r], lim)",
        ("tests/test_tiles.py::test_packing_rows_counts_what_the_screen_counts",),
        "the tile product counts its rows' bad values even where no one asked (a hidden layer's, training's): a pass "
        "of work for nothing", timeout=1800.0),
    Mutant(
        "hidden_layers_never_timed_cut", "fastmlp/backends/products.py",
        "                if l > 0 and _faster(*_hidden_timed(arch, rows, l, rng, threads)):",
        "                if l > 1 and _faster(*_hidden_timed(arch, rows, l, rng, threads)):",
        ("tests/test_tiles.py::test_a_cut_training_s_hidden_layers_take_matmul_on_one_thread_where_faster_by_the_"
         "margin", "tests/test_matmul.py::test_with_several_threads_a_cut_training_s_first_layer_over_nonzero_inputs_"
         "is_measured_cut"),
        "a cut training's choice skips its first hidden layer: the fashion net's 256 -> 128 forward stays on the "
        "BLAS's pieces over two threads (21-28 us a step against 17.2 on one thread by matmul)"),
    Mutant(
        "cut_choice_timed_in_the_blas_spin", "fastmlp/backends/products.py",
        "                time.sleep(blas_spin.spin_seconds())",
        "                time.sleep(0.0)",
        ("tests/test_tiles.py::test_a_cut_training_s_hidden_layers_take_matmul_on_one_thread_where_faster_by_the_"
         "margin",),
        "a cut training's choice is timed while the BLAS's own threads still spin from the training's last calls: "
        "the BLAS's pieces time twice as slow as they run, and the AMX tiles' weight product is taken where it trains "
        "slower"),
]
