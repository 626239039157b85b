# ---------------------------------------------------------------------------------------------
# What follows is the same for every spec: nnspec's random streams, data, split, scaling, batch
# order and trace, mirrored so that this script trains the same model on the same rows.
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


class Dataset:
    """Every row, raw: inputs [rows, width] and targets [rows, targets] as float32, with the
    column names; validation and test files follow the main source's rows."""

    def __init__(self, inputs, targets, input_names, target_names):
        self.inputs = inputs
        self.targets = targets
        self.input_names = input_names
        self.target_names = target_names


class DataError(Exception):
    """A data file that cannot be read as the spec says."""


def read_csv(path, source):
    """A CSV file: the header, then one numeric row per sample (blank lines skipped, cells
    trimmed), features and targets chosen by name as nnspec chooses them."""
    try:
        handle = open(path, newline="", encoding="utf-8")
    except OSError as error:
        raise DataError(f"cannot read data file {path!r}: {error.strerror or error}") from None
    with handle:
        reader = csv.reader(handle)
        header = [cell.strip() for cell in next(reader, [])]
        if not header or header == [""]:
            raise DataError(f"data file {path!r} is empty")

        def column(name, role):
            if name not in header:
                raise DataError(f"{role} column {name!r} is not in the header of {path!r}")
            return header.index(name)

        targets = [column(name, "target") for name in source["targets"]]
        for name in source["ignore"]:
            column(name, "ignored")
        if source["features"] is not None:
            features = [column(name, "feature") for name in source["features"]]
        else:
            features = [
                i for i, name in enumerate(header) if i not in targets and name not in source["ignore"]
            ]
        if len(features) != SPEC["input_width"]:
            raise DataError(
                f"{path!r} has {len(features)} feature column(s) but the model's input is {SPEC['input_width']}"
            )
        inputs, outputs = [], []
        for record in reader:
            where = f"{path}:{reader.line_num}"
            record = [cell.strip() for cell in record]
            if record in ([], [""]):
                continue
            if len(record) != len(header):
                raise DataError(f"{where} has {len(record)} field(s), but the header has {len(header)}")
            inputs.append([number(record[c], where, header[c]) for c in features])
            row = [number(record[c], where, header[c]) for c in targets]
            if SPEC["classes"] is not None:
                for value in row:
                    if not (value == int(value) and 0 <= value < SPEC["classes"]):
                        raise DataError(f"{where}: {value} is not a class index in 0..{SPEC['classes'] - 1}")
            outputs.append(row)
        if not inputs:
            raise DataError(f"{path!r} has a header but no rows")
    return Dataset(
        torch.tensor(inputs, dtype=torch.float32).reshape(len(inputs), len(features)),
        torch.tensor(outputs, dtype=torch.float32).reshape(len(outputs), len(targets)),
        [header[c] for c in features],
        [header[c] for c in targets],
    )


def number(cell, where, name):
    try:
        value = float(cell)
    except ValueError:
        raise DataError(f"{where}, column {name!r}: {cell!r} is not a number") from None
    if not math.isfinite(value):
        raise DataError(f"{where}, column {name!r}: {cell!r} is not a finite number")
    return value


def generate(source):
    """nnspec's built-in generators, from the `data` stream (5) of the source's seed."""
    rng = ChaCha8(source["seed"], 5)
    if source["kind"] == "xor":
        rows = source["rows"]
        inputs = [rng.uniform01() * 2.0 - 1.0 for _ in range(rows * 2)]
        targets = [[1.0 if inputs[2 * r] * inputs[2 * r + 1] > 0.0 else 0.0] for r in range(rows)]
        return Dataset(
            torch.tensor(inputs, dtype=torch.float32).reshape(rows, 2),
            torch.tensor(targets, dtype=torch.float32),
            ["x0", "x1"],
            ["y"],
        )
    rows, width, outputs = source["rows"], source["inputs"], source["targets"]
    inputs = [rng.uniform01() for _ in range(rows * width)]
    classes = SPEC["classes"]
    if classes is not None:
        targets = [min(math.floor(f32(rng.uniform01() * classes)), classes - 1) for _ in range(rows)]
    else:
        targets = [rng.uniform01() for _ in range(rows * outputs)]
    return Dataset(
        torch.tensor(inputs, dtype=torch.float32).reshape(rows, width),
        torch.tensor(targets, dtype=torch.float32).reshape(rows, outputs),
        [f"x{i}" for i in range(width)],
        [f"y{i}" for i in range(outputs)],
    )


def load_data(spec_dir):
    """Every row (main source, then the validation and test files) and the row counts."""
    source = SPEC["data"]
    if source["kind"] == "csv":
        data = read_csv(os.path.join(spec_dir, source["path"]), source)
    else:
        data = generate(source)
    own = data.inputs.shape[0]
    counts = []
    for key in ("validation_file", "test_file"):
        extra = SPEC[key]
        if extra is None:
            counts.append(0)
            continue
        more = read_csv(os.path.join(spec_dir, extra["path"]), extra)
        data.inputs = torch.cat([data.inputs, more.inputs])
        data.targets = torch.cat([data.targets, more.targets])
        counts.append(more.inputs.shape[0])
    if SPEC["loss"] == "bce" and bool(((data.targets < 0) | (data.targets > 1)).any()):
        raise DataError("`bce` targets must be in [0, 1]")
    return data, own, counts[0], counts[1]


def split_rows(data, own, validation_rows, test_rows):
    """nnspec's split: per class (with `classes`) or all rows at once, each group shuffled by
    the `split` stream (4); the first round(t n) rows test, the next round(v n) validate, the
    rest train; each list sorted. Separate files give their own rows."""
    fractions = SPEC["split"]
    if SPEC["classes"] is not None:
        groups = [[] for _ in range(SPEC["classes"])]
        labels = data.targets[:own, 0].tolist()
        for row in range(own):
            groups[int(labels[row])].append(row)
    else:
        groups = [list(range(own))]
    rng = ChaCha8(SPEC["seed"], 4)
    train, validation, test = [], [], []
    for group in groups:
        if fractions["validation"] == 0.0 and fractions["test"] == 0.0:
            train.extend(group)
            continue
        rng.shuffle(group)
        n = float(len(group))
        tests = int(round_half_away(fractions["test"] * n))
        validations = min(int(round_half_away(fractions["validation"] * n)), len(group) - tests)
        test.extend(group[:tests])
        validation.extend(group[tests:tests + validations])
        train.extend(group[tests + validations:])
    validation.extend(range(own, own + validation_rows))
    test.extend(range(own + validation_rows, own + validation_rows + test_rows))
    return sorted(train), sorted(validation), sorted(test)


def fit_scaling(data, rows):
    """Input scaling fitted on `rows` in float64 (nnspec's Scaler::fit): mean and population
    std for `standardize`, min and range for `minmax`; a constant feature keeps factor 1."""
    width = SPEC["input_width"]
    offset, factor = [0.0] * width, [1.0] * width
    kind = SPEC["scaling"]
    if kind == "none":
        return offset, factor
    columns = data.inputs[rows].t().tolist() if rows else [[] for _ in range(width)]
    for f, values in enumerate(columns):
        if kind == "standardize":
            n = float(len(values))
            mean = sequential_sum(values) / n
            std = math.sqrt(sequential_sum((x - mean) * (x - mean) for x in values) / n)
            offset[f] = f32(mean)
            if std > 0.0 and math.isfinite(f32(1.0 / std)):
                factor[f] = f32(1.0 / std)
        else:
            low, high = min(values), max(values)
            offset[f] = f32(low)
            if high > low and math.isfinite(f32(1.0 / (high - low))):
                factor[f] = f32(1.0 / (high - low))
    return offset, factor


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


def save_weights(path, model, offset, factor, data):
    """safetensors in nnspec's layout and with its metadata, so that nnspec's predict, eval
    and `run --init` take the file: the state_dict in the spec's parameter order."""
    state = model.state_dict()
    header = {
        "__metadata__": {
            "format": "pt",
            "nnspec.architecture": SPEC["architecture"],
            "nnspec.columns": json.dumps(
                {"features": data.input_names, "targets": data.target_names}, separators=(",", ":")
            ),
            "nnspec.input_scaling": json.dumps(
                {"kind": SPEC["scaling"], "offset": offset, "factor": factor}, separators=(",", ":")
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
    """Metrics of `rows` in evaluation mode, shared between the processes: the exact mean loss."""
    model.eval()
    mine = share(rows, rank, world)
    objective = Objective(model)
    if mine:
        index = torch.tensor(mine, device=inputs.device)
        _, sums = batch_sums(objective(inputs[index]), targets[index])
    else:
        sums = torch.zeros(4, dtype=torch.float64, device=inputs.device)
    if world > 1:
        dist.all_reduce(sums)
    sums = sums.tolist()
    return metrics(sums[0] / (len(rows) * SPEC["terms_per_sample"]), sums, len(rows), sst)


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


def run(args, device, rank, world):
    here = os.path.dirname(os.path.abspath(__file__))
    spec_dir = args.data_dir if args.data_dir is not None else os.path.join(here, SPEC["spec_dir"])
    data, own, validation_rows, test_rows = load_data(spec_dir)
    train_rows, validation, test = split_rows(data, own, validation_rows, test_rows)
    if not train_rows:
        raise DataError(f"no training rows are left out of {own}")
    if SPEC["early_stop"] is not None and not validation:
        raise DataError("early stopping has no validation rows: the split left none")
    offset, factor = fit_scaling(data, train_rows)
    model = MODEL()
    if hasattr(model, "set_preprocess"):
        model.set_preprocess(offset, factor)
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
    best_score, best_state, waited, stopped = None, None, 0, False
    trace, step = [], 0
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        lr = learning_rate(epoch - 1)
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
        if early is not None:
            score = -val["loss"] if early["monitor"] == "val_loss" else val.get("accuracy", 0.0)
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
            save_weights(args.save, model, offset, factor, data)


if __name__ == "__main__":
    main()
