# ---------------------------------------------------------------------------------------------
# Then training: nnspec's random streams, initial weights, batch order, metrics and trace,
# mirrored so that this script trains the same model on the same rows.
# ---------------------------------------------------------------------------------------------

MASK32 = 0xFFFFFFFF
MASK64 = 0xFFFFFFFFFFFFFFFF


class ChaCha8:
    """rand_chacha's ChaCha8Rng as nnspec seeds it: `seed_from_u64(seed)` then `set_stream(n)`.

    The 32-byte key comes from rand_core's PCG32 filler; words are read in order, a u64 is two
    words (low first). Streams: 1 init, 2 shuffle, 4 split, 5 data generators (nnspec's src/rng.rs).
    """

    CONSTANTS = (0x61707865, 0x3320646E, 0x79622D32, 0x6B206574)

    def __init__(self, seed, stream):
        state = seed & MASK64
        key = []
        for _ in range(8):
            state = (state * 0x5851F42D4C957F2D + 0xA17654E46FBE17F3) & MASK64
            xorshifted = (((state >> 18) ^ state) >> 27) & MASK32
            rot = state >> 59
            key.append(((xorshifted >> rot) | (xorshifted << ((32 - rot) & 31))) & MASK32)
        self.key = key
        self.stream = stream & MASK64
        self.block = 0
        self.words = []
        self.index = 0

    def _refill(self):
        counter, stream = self.block, self.stream
        initial = list(self.CONSTANTS) + self.key + [
            counter & MASK32, counter >> 32, stream & MASK32, stream >> 32,
        ]
        x = list(initial)

        def quarter(a, b, c, d):
            x[a] = (x[a] + x[b]) & MASK32
            v = x[d] ^ x[a]
            x[d] = ((v << 16) | (v >> 16)) & MASK32
            x[c] = (x[c] + x[d]) & MASK32
            v = x[b] ^ x[c]
            x[b] = ((v << 12) | (v >> 20)) & MASK32
            x[a] = (x[a] + x[b]) & MASK32
            v = x[d] ^ x[a]
            x[d] = ((v << 8) | (v >> 24)) & MASK32
            x[c] = (x[c] + x[d]) & MASK32
            v = x[b] ^ x[c]
            x[b] = ((v << 7) | (v >> 25)) & MASK32

        for _ in range(4):  # 8 rounds: 4 double rounds
            quarter(0, 4, 8, 12)
            quarter(1, 5, 9, 13)
            quarter(2, 6, 10, 14)
            quarter(3, 7, 11, 15)
            quarter(0, 5, 10, 15)
            quarter(1, 6, 11, 12)
            quarter(2, 7, 8, 13)
            quarter(3, 4, 9, 14)
        self.words = [(a + b) & MASK32 for a, b in zip(x, initial)]
        self.index = 0
        self.block = (self.block + 1) & MASK64

    def next_u32(self):
        if self.index == len(self.words):
            self._refill()
        word = self.words[self.index]
        self.index += 1
        return word

    def next_u64(self):
        low = self.next_u32()
        return low | (self.next_u32() << 32)

    def uniform01(self):
        """Uniform in [0, 1): (next_u32 >> 8) * 2^-24, exact in float32."""
        return (self.next_u32() >> 8) * (1.0 / 16777216.0)

    def uniform(self, low, high):
        """Uniform in [low, high), computed in float64 and rounded to float32."""
        return f32(low + (high - low) * self.uniform01())

    def normal(self):
        """Box-Muller from two draws, in float64 (nnspec's rng::normal)."""
        u1 = ((self.next_u32() >> 8) + 1) * (1.0 / 16777216.0)
        u2 = self.uniform01()
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(math.tau * u2)

    def below(self, n):
        """An index in 0..n by Lemire's multiply-shift: (next_u64 * n) >> 64."""
        return (self.next_u64() * n) >> 64

    def shuffle(self, items):
        """Fisher-Yates from the last position down, as nnspec's rng::shuffle."""
        for i in range(len(items) - 1, 0, -1):
            j = self.below(i + 1)
            items[i], items[j] = items[j], items[i]


def f32(value):
    """The nearest float32 of a Python float (infinite beyond float32's range)."""
    try:
        return struct.unpack("<f", struct.pack("<f", value))[0]
    except OverflowError:
        return math.copysign(math.inf, value)


def powi(x, n):
    """x ** n by repeated squaring, as Rust's powi (compiler-rt's __powidf2) rounds it."""
    result = 1.0
    while True:
        if n & 1:
            result *= x
        n >>= 1
        if n == 0:
            return result
        x *= x


def round_half_away(x):
    """Rust's f64::round for x >= 0: halves away from zero (Python's round goes to even)."""
    whole = math.floor(x)
    return whole + 1 if x - whole >= 0.5 else whole


def sequential_sum(values):
    """A float64 sum from the first value to the last, as nnspec's statistics add them."""
    total = 0.0
    for value in values:
        total += value
    return total


def sum_of_squares(data, rows):
    """The targets' total sum of squares about their means (R²'s denominator), in float64."""
    if not rows or SPEC["classifier"]:
        return 0.0
    total = 0.0
    for values in data.targets[rows].t().tolist():
        mean = sequential_sum(values) / len(values)
        total += sequential_sum((t - mean) * (t - mean) for t in values)
    return total


@torch.no_grad()
def initialise(model):
    """nnspec's seeded initial weights: dense layers in order from the `init` stream (1),
    each weight row-major then its bias, with torch.nn.init's formulas."""
    rng = ChaCha8(SPEC["seed"], 1)
    state = model.state_dict()
    for layer in SPEC["inits"]:
        weight, bias = state[layer["weight"]], state[layer["bias"]]
        fan_in, fan_out = float(layer["fan_in"]), float(layer["fan_out"])
        count = weight.numel()
        kind = layer["init"]
        values = [0.0] * count
        biases = [0.0] * bias.numel()
        if kind == "default":
            bound = 1.0 / math.sqrt(fan_in)
            values = [rng.uniform(-bound, bound) for _ in range(count)]
            biases = [rng.uniform(-bound, bound) for _ in range(bias.numel())]
        elif kind == "uniform":
            values = [rng.uniform(layer["low"], layer["high"]) for _ in range(count)]
        elif kind in ("xavier_uniform", "he_uniform"):
            bound = math.sqrt(6.0 / (fan_in + fan_out)) if kind == "xavier_uniform" else math.sqrt(6.0 / fan_in)
            values = [rng.uniform(-bound, bound) for _ in range(count)]
        elif kind in ("xavier_normal", "he_normal"):
            std = math.sqrt(2.0 / (fan_in + fan_out)) if kind == "xavier_normal" else math.sqrt(2.0 / fan_in)
            values = [std * rng.normal() for _ in range(count)]
        weight.copy_(torch.tensor(values, dtype=torch.float32).reshape(weight.shape))
        bias.copy_(torch.tensor(biases, dtype=torch.float32))


def read_safetensors(path):
    """Tensors and metadata of a safetensors file (F32 and I64, little-endian)."""
    with open(path, "rb") as handle:
        blob = handle.read()
    if len(blob) < 8:
        raise DataError(f"{path!r} is not a safetensors file")
    size = struct.unpack("<Q", blob[:8])[0]
    try:
        header = json.loads(blob[8:8 + size])
    except ValueError:
        raise DataError(f"{path!r} is not a safetensors file") from None
    metadata = header.pop("__metadata__", None) or {}
    tensors = {}
    for name, info in header.items():
        start, end = info["data_offsets"]
        raw = blob[8 + size + start:8 + size + end]
        if info["dtype"] == "F32":
            values = struct.unpack(f"<{len(raw) // 4}f", raw)
            tensors[name] = torch.tensor(values, dtype=torch.float32).reshape(info["shape"])
        elif info["dtype"] == "I64":
            values = struct.unpack(f"<{len(raw) // 8}q", raw)
            tensors[name] = torch.tensor(values, dtype=torch.int64).reshape(info["shape"])
        else:
            raise DataError(f"tensor {name!r} in {path!r} has dtype {info['dtype']}; expected F32 or I64")
    return tensors, metadata


def write_atomic(path, data):
    """Writes a file whole or not at all: a temporary file beside it, then a rename."""
    directory = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(directory, f".{os.path.basename(path)}.tmp-{os.getpid()}")
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def save_weights(path, model, data):
    """safetensors in nnspec's layout and with its metadata (the column encoding this script
    fitted, with its input scaling), so that nnspec's predict, eval and `run --init` take the
    file: the state_dict in the spec's parameter order."""
    state = model.state_dict()
    slots = [s for feature in data.encoding["features"] for s in feature["slots"]]
    targets = data.encoding["target"].get("columns") or [data.encoding["target"]["column"]]
    header = {
        "__metadata__": {
            "format": "pt",
            "nnspec.architecture": SPEC["architecture"],
            "nnspec.columns": json.dumps(
                {"features": [s["name"] for s in slots], "targets": targets}, separators=(",", ":")
            ),
            "nnspec.encoding": json.dumps(data.encoding, separators=(",", ":")),
            "nnspec.input_scaling": json.dumps(
                {
                    "kind": SPEC["scaling"]["kind"],
                    "offset": [s["offset"] for s in slots],
                    "factor": [s["factor"] for s in slots],
                },
                separators=(",", ":"),
            ),
            "nnspec.model": SPEC["name"],
            "nnspec.version": SPEC["nnspec_version"],
        }
    }
    blobs, at = [], 0
    for name, shape in SPEC["params"]:
        tensor = state[name].detach().cpu().reshape(-1)
        if name.endswith("num_batches_tracked"):
            raw = struct.pack(f"<{tensor.numel()}q", *tensor.to(torch.int64).tolist())
            dtype = "I64"
        else:
            raw = struct.pack(f"<{tensor.numel()}f", *tensor.to(torch.float32).tolist())
            dtype = "F32"
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [at, at + len(raw)]}
        blobs.append(raw)
        at += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    write_atomic(path, struct.pack("<Q", len(text)) + text + b"".join(blobs))


@torch.no_grad()
def load_weights(path, model):
    """Weights saved by nnspec (`run --save`, or a checkpoint's `params.`), checked by name and shape."""
    tensors, metadata = read_safetensors(path)
    prefix = "params." if "nnspec.checkpoint" in metadata else ""
    state = model.state_dict()
    for name, shape in SPEC["params"]:
        saved = tensors.get(prefix + name)
        if saved is None:
            raise DataError(f"{path!r} has no tensor {name!r}: it was saved from a different model")
        if list(saved.shape) != shape:
            raise DataError(f"tensor {name!r} in {path!r} has shape {list(saved.shape)}, the model expects {shape}")
        state[name].copy_(saved.to(state[name].dtype))


class Objective(nn.Module):
    """The model up to what the loss reads: the logits when the loss applies the final sigmoid
    or softmax itself (nnspec's fused, numerically stable forms)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        if hasattr(self.model, "preprocess"):
            x = self.model.preprocess(x)
        layers = self.model.layers[:-1] if SPEC["fused"] else self.model.layers
        return layers(x)


def batch_sums(out, target):
    """The per-term losses of a batch and its float64 sums [loss, correct, |error|, error²]
    (nnspec's LossSums), from what the loss reads (logits under a fused final activation)."""
    terms = loss_terms(out, target)
    # Measured in float64 from the float32 outputs, as nnspec measures it: a float32 loss of a
    # confident classifier (log(1 + 1e-3), say) would round away its own digits.
    with torch.no_grad():
        wide = target if SPEC["loss"] == "cross_entropy" else target.double()
        loss = loss_terms(out.detach().double(), wide).sum()
    zero = torch.zeros((), dtype=torch.float64, device=out.device)
    if SPEC["classifier"]:
        if SPEC["loss"] == "cross_entropy":
            correct = (out.detach().argmax(dim=1) == target).sum()
        else:
            threshold = 0.0 if SPEC["fused"] else 0.5
            correct = ((out.detach() >= threshold) == (target >= 0.5)).sum()
        return terms, torch.stack([loss, correct.double(), zero, zero])
    error = out.detach().double() - target.double()
    return terms, torch.stack([loss, zero, error.abs().sum(), (error * error).sum()])


def metrics(loss, sums, rows, sst):
    """A split's metrics from its loss and sums: accuracy, or MAE, RMSE and R²."""
    if SPEC["classifier"]:
        return {"loss": loss, "accuracy": sums[1] / (rows * SPEC["terms_per_sample"])}
    outputs = rows * SPEC["output_width"]
    return {
        "loss": loss,
        "mae": sums[2] / outputs,
        "rmse": math.sqrt(sums[3] / outputs),
        "r2": 1.0 - sums[3] / sst if sst > 0.0 else 0.0,
    }


def share(rows, rank, world):
    """This process's contiguous share of a batch: sizes differ by at most one row, the larger
    shares first, so that together the processes take exactly the spec's batch."""
    base, extra = divmod(len(rows), world)
    start = rank * base + min(rank, extra)
    return rows[start:start + base + (1 if rank < extra else 0)]


@torch.no_grad()
def evaluate(model, inputs, targets, rows, world, rank, sst):
    """Metrics of `rows` in evaluation mode, shared between the processes: the exact mean
    loss, and the confusion-based metrics the spec asks for (`SPEC["extra_metrics"]`)."""
    model.eval()
    mine = share(rows, rank, world)
    objective = Objective(model)
    outcomes = torch.zeros((0, 3), dtype=torch.float64, device=inputs.device)
    if mine:
        index = torch.tensor(mine, device=inputs.device)
        out = objective(inputs[index])
        _, sums = batch_sums(out, targets[index])
        if SPEC["extra_metrics"]:
            outcomes = classified(out, targets[index])
    else:
        sums = torch.zeros(4, dtype=torch.float64, device=inputs.device)
    if world > 1:
        dist.all_reduce(sums)
        if SPEC["extra_metrics"]:
            outcomes = gathered(outcomes, [len(share(rows, r, world)) for r in range(world)])
    sums = sums.tolist()
    result = metrics(sums[0] / (len(rows) * SPEC["terms_per_sample"]), sums, len(rows), sst)
    if SPEC["extra_metrics"]:
        result.update(confusion_metrics(outcomes.tolist()))
    return result


def classified(out, target):
    """Per row [actual class, predicted class, score of class 1] (nnspec's evaluate): the
    prediction from what the loss reads, the score a logit or a difference of outputs."""
    width = out.shape[1]
    if SPEC["loss"] == "cross_entropy":
        actual = target.double()
    else:
        actual = (target[:, 0] >= 0.5).double()
    if SPEC["loss"] == "bce":
        predicted = (out[:, 0] >= (0.0 if SPEC["fused"] else 0.5)).double()
    else:
        predicted = out.argmax(dim=1).double()
    score = out[:, 0] if width == 1 else (out[:, 1] - out[:, 0]) if width > 1 else out[:, 0]
    return torch.stack([actual, predicted, score.double()], dim=1)


def gathered(rows, sizes):
    """Every process's rows, in process order (padded to the largest share to gather)."""
    padded = torch.zeros((max(sizes), 3), dtype=rows.dtype, device=rows.device)
    padded[:rows.shape[0]] = rows
    parts = [torch.zeros_like(padded) for _ in sizes]
    dist.all_gather(parts, padded)
    return torch.cat([part[:size] for part, size in zip(parts, sizes)])


def confusion_metrics(outcomes):
    """Macro precision, recall and F1 (0 where a class has no predictions or no rows) and ROC
    AUC of two classes (ties count half; absent without rows of both classes), as nnspec's
    ClassReport and Confusion::auc compute them, for the metrics the spec asks for."""
    k = SPEC["class_count"]
    counts = [[0] * k for _ in range(k)]
    for actual, predicted, _ in outcomes:
        counts[int(actual)][int(predicted)] += 1

    def ratio(a, b):
        return a / b if b > 0.0 else 0.0

    precision, recall, f1 = [], [], []
    for c in range(k):
        hits = float(counts[c][c])
        p = ratio(hits, sequential_sum(float(counts[a][c]) for a in range(k)))
        r = ratio(hits, sequential_sum(float(counts[c][q]) for q in range(k)))
        precision.append(p)
        recall.append(r)
        f1.append(ratio(2.0 * p * r, p + r))
    values = {
        "precision": sequential_sum(precision) / k,
        "recall": sequential_sum(recall) / k,
        "f1": sequential_sum(f1) / k,
    }
    if k == 2:
        scores = sorted((f32(score), actual == 1.0) for actual, _, score in outcomes)
        positives = float(sum(1 for _, positive in scores if positive))
        negatives = float(len(scores)) - positives
        if positives > 0.0 and negatives > 0.0:
            rank_sum, i = 0.0, 0
            while i < len(scores):
                run = 1
                while i + run < len(scores) and scores[i + run][0] == scores[i][0]:
                    run += 1
                mean_rank = float(i) + (float(run) + 1.0) / 2.0
                rank_sum += mean_rank * float(sum(1 for _, positive in scores[i:i + run] if positive))
                i += run
            values["auc"] = (rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives)
    return {key: values[key] for key in ("precision", "recall", "f1", "auc") if key in SPEC["extra_metrics"] and key in values}


class Plateau:
    """`reduce_lr`: PyTorch's ReduceLROnPlateau as nnspec applies it (a scale on top of the
    schedule, never below min_lr), watching a validation metric after each epoch."""

    def __init__(self, settings):
        self.settings, self.scale, self.best, self.waited = settings, 1.0, None, 0

    def lr(self, scheduled):
        return scheduled if self.scale == 1.0 else max(scheduled * self.scale, self.settings["min_lr"])

    def observe(self, validation):
        score = monitored(validation, self.settings["monitor"])
        if not math.isnan(score) and (self.best is None or score > self.best + self.settings["min_delta"]):
            self.best, self.waited = score, 0
            return
        self.waited += 1
        if self.waited > self.settings["patience"]:
            self.scale *= self.settings["factor"]
            self.waited = 0


def monitored(validation, monitor):
    """A validation metric as a score, higher better (NaN where the split lacks it)."""
    value = (validation or {}).get(monitor[len("val_"):], math.nan)
    return -value if monitor in ("val_loss", "val_mae", "val_rmse") else value


def trace_line(epoch, step, train, validation, test, lr, elapsed):
    """One trace line with nnspec's keys, in its order."""
    line = {"epoch": epoch, "step": step}
    for prefix, values in (("", train), ("val_", validation), ("test_", test)):
        if values is not None:
            for key, value in values.items():
                line[prefix + key] = value
    line["lr"] = lr
    line["elapsed_s"] = elapsed
    return line


def arguments(argv):
    parser = argparse.ArgumentParser(
        description=f"Train the nnspec model {SPEC['name']!r} with PyTorch (one process, or torchrun)."
    )
    parser.add_argument("--init", metavar="W.safetensors", help="start from these weights (nnspec's layout)")
    parser.add_argument("--trace", metavar="FILE", help="write the trace as JSON lines with nnspec's keys")
    parser.add_argument("--save", metavar="W.safetensors", help="save the trained weights in nnspec's layout")
    parser.add_argument("--epochs", type=int, help=f"epochs to train (the spec says {SPEC['epochs']})")
    parser.add_argument(
        "--device", default="auto", help="cpu, cuda, or auto (cuda when available); default auto"
    )
    parser.add_argument("--data-dir", metavar="DIR", help="where the spec's relative data paths start")
    args = parser.parse_args(argv)
    if args.epochs is not None and args.epochs < 1:
        parser.error("--epochs must be at least 1")
    return args


def main(argv=None):
    args = arguments(argv)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    wanted = args.device
    if wanted == "auto":
        wanted = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device("cuda", local_rank) if wanted == "cuda" else torch.device(wanted)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if world > 1:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        run(args, device, rank, world)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    finally:
        if world > 1:
            dist.destroy_process_group()


@torch.no_grad()
def fit_preprocess(model, data):
    """The column encoding and input scaling fitted on this script's training rows, set in the
    model and recorded in the encoding's slots (what --save writes)."""
    if hasattr(model, "set_encoding"):
        model.set_encoding(encoding_tables(data.encoding))
        raw = model.encode(data.inputs)
    else:
        raw = data.inputs
    if raw.shape[1] != SPEC["input_width"]:
        raise DataError(
            f"the data's columns now give {raw.shape[1]} input slot(s), but this script was written for "
            f"{SPEC['input_width']}: export it again (nnspec export-torch SPEC --script FILE)"
        )
    offset, factor = fit_scaling(raw, data.train, data.scalings)
    if hasattr(model, "set_preprocess"):
        model.set_preprocess(offset, factor)
    slots = [s for feature in data.encoding["features"] for s in feature["slots"]]
    for s, o, f in zip(slots, offset, factor):
        s["offset"], s["factor"] = o, f
    target = data.encoding["target"]
    if target["kind"] == "classes" and not target["indices"]:
        model.labels = target["labels"]


def run(args, device, rank, world):
    here = os.path.dirname(os.path.abspath(__file__))
    spec_dir = args.data_dir if args.data_dir is not None else os.path.join(here, SPEC["spec_dir"])
    data = prepare(spec_dir)
    train_rows, validation, test = data.train, data.validation, data.test
    if not train_rows:
        raise DataError(f"no training rows are left out of {data.own}")
    if SPEC["early_stop"] is not None and not validation:
        raise DataError("early stopping has no validation rows: the split left none")
    model = MODEL()
    fit_preprocess(model, data)
    if args.init is not None:
        load_weights(args.init, model)
    else:
        initialise(model)
    model.to(device)
    if world > 1 and device.type == "cuda":
        # Batch statistics over the whole global batch, as nnspec computes them.
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    # Dropout masks come from PyTorch's generator, not nnspec's stream: one seed per process.
    torch.manual_seed(SPEC["seed"] * 1000 + rank)
    objective = Objective(model)
    trained = nn.parallel.DistributedDataParallel(objective) if world > 1 else objective
    optimizer = make_optimizer(model.parameters())
    inputs = data.inputs.to(device)
    targets = data.targets.to(device)
    if SPEC["loss"] == "cross_entropy":
        targets = targets[:, 0].long()
    epochs = args.epochs if args.epochs is not None else SPEC["epochs"]
    capacity = len(train_rows) if SPEC["batch"] is None else max(1, min(SPEC["batch"], len(train_rows)))
    order = list(train_rows)
    # With `drop_last`, an epoch trains on its whole batches only: the first rows of its order.
    rows_used = len(order) - len(order) % capacity if SPEC.get("drop_last") else len(order)
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        # nnspec normalises a single row (its variance is 0); PyTorch refuses to.
        for size in {capacity, rows_used % capacity or capacity}:
            if 1 in [len(share(range(size), r, world)) for r in range(world)]:
                raise DataError(
                    f"a batch of {size} row(s) over {world} process(es) leaves a process one row, "
                    "which PyTorch's batch norm cannot normalise: change the batch or the process count"
                )
    shuffle_rng = ChaCha8(SPEC["seed"], 2)
    train_sst = sum_of_squares(data, train_rows)
    validation_sst = sum_of_squares(data, validation)
    early = SPEC["early_stop"]
    plateau = Plateau(SPEC["reduce_lr"]) if SPEC["reduce_lr"] is not None else None
    best_score, best_state, waited, stopped = None, None, 0, False
    trace, step = [], 0
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        lr = learning_rate(epoch - 1) if plateau is None else plateau.lr(learning_rate(epoch - 1))
        for group in optimizer.param_groups:
            group["lr"] = lr
        if SPEC["shuffle"]:
            shuffle_rng.shuffle(order)
        model.train()
        batches = []
        for at in range(0, rows_used, capacity):
            rows = order[at:at + capacity]
            index = torch.tensor(share(rows, rank, world), dtype=torch.long, device=device)
            out = trained(inputs[index])
            terms, sums = batch_sums(out, targets[index])
            # The mean over the whole global batch: DDP averages the processes' gradients,
            # so each process scales its sum by world / terms.
            scale = world / (len(rows) * SPEC["terms_per_sample"])
            optimizer.zero_grad(set_to_none=True)
            (terms.sum() * scale).backward()
            if SPEC["clip_norm"] is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), SPEC["clip_norm"])
            optimizer.step()
            step += 1
            batches.append(sums)
        sums = torch.stack(batches)
        if world > 1:
            dist.all_reduce(sums)
        per_batch = sums.tolist()
        losses = []
        for (at, batch) in zip(range(0, rows_used, capacity), per_batch):
            terms = len(order[at:at + capacity]) * SPEC["terms_per_sample"]
            loss = batch[0] / terms
            if not math.isfinite(loss):
                raise DataError(f"training diverged: the loss became {loss} at epoch {epoch}")
            losses.append(loss)
        totals = [sequential_sum(column) for column in zip(*per_batch)]
        sst = train_sst if rows_used == len(order) else sum_of_squares(data, order[:rows_used])
        train = metrics(sequential_sum(losses) / len(losses), totals, rows_used, sst)
        if world > 1:
            # DDP keeps batch norm's running statistics of process 0: evaluate with those.
            for buffer in model.buffers():
                dist.broadcast(buffer, 0)
        val = evaluate(model, inputs, targets, validation, world, rank, validation_sst) if validation else None
        line = trace_line(epoch, step, train, val, None, lr, time.perf_counter() - start)
        if plateau is not None:
            plateau.observe(val)
        if early is not None:
            score = monitored(val, early["monitor"])
            score = -math.inf if math.isnan(score) else score
            if best_score is None or score > best_score + early["min_delta"]:
                best_score, waited = score, 0
                best_state = {name: value.detach().clone() for name, value in model.state_dict().items()}
            else:
                waited += 1
                stopped = waited >= early["patience"]
        if stopped or epoch % SPEC["log_every"] == 0 or epoch == epochs:
            trace.append(line)
            if rank == 0:
                print(json.dumps(line), flush=True)
        if stopped:
            break
    if early is not None and early["restore_best"] and best_state is not None:
        model.load_state_dict(best_state)
    if test:
        # Once, on the final (or restored best) weights, onto the last line: before `lr`.
        last = trace[-1]
        lr, elapsed = last.pop("lr"), last.pop("elapsed_s")
        tested = evaluate(model, inputs, targets, test, world, rank, sum_of_squares(data, test))
        for key, value in tested.items():
            last["test_" + key] = value
        last["lr"], last["elapsed_s"] = lr, elapsed
        if rank == 0:
            print(json.dumps({"test_" + key: value for key, value in tested.items()}), flush=True)
    if rank == 0:
        if args.trace is not None:
            write_atomic(args.trace, "".join(json.dumps(line) + "\n" for line in trace).encode("utf-8"))
        if args.save is not None:
            save_weights(args.save, model, data)


if __name__ == "__main__":
    main()
