# ---------------------------------------------------------------------------------------------
# What follows is the same for every spec. First the data: nnspec's CSV reading, class labels,
# row split and column encoding (its src/data/), mirrored so that this script reads the same
# rows into the same numbers, with the encoding fitted on its own training rows.
# ---------------------------------------------------------------------------------------------


class DataError(Exception):
    """A data file that cannot be read as the spec says."""


DELIMITERS = [",", ";", "\t", "|"]
# A feature column that no declaration names.
NUMBER = {"kind": "number", "missing": "error", "constant": None, "indicator": False, "scale": None}


def sniff_delimiter(line):
    """The delimiter a header line uses: the candidate found most often outside quotes (the
    earlier one on a tie), `,` when there is none."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(DELIMITERS, key=lambda d: (counts[d], -DELIMITERS.index(d)))
    return best if counts[best] else ","


def read_records(path):
    """A CSV file's header and records (cells trimmed, blank lines skipped) with the file line
    each record starts on; `.gz` files are decompressed."""
    try:
        opener = gzip.open if path.lower().endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
            text = handle.read()
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise DataError(f"cannot read data file {path!r}: {getattr(error, 'strerror', None) or error}") from None
    delimiter = SPEC["data"]["delimiter"] or sniff_delimiter(text.split("\n", 1)[0])
    spaces = " \t\r".replace(delimiter, "")
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, skipinitialspace=True)
    header = [cell.strip(spaces) for cell in next(reader, [])]
    if header in ([], [""]):
        raise DataError(f"data file {path!r} is empty")
    records, lines, line = [], [], reader.line_num
    for record in reader:
        start, line = line + 1, reader.line_num
        record = [cell.strip(spaces) for cell in record]
        if record in ([], [""]):
            continue
        if len(record) != len(header):
            raise DataError(f"{path}:{start} has {len(record)} field(s), but the header has {len(header)}")
        records.append(record)
        lines.append(start)
    if not records:
        raise DataError(f"{path!r} has a header but no rows")
    return header, records, lines


def missing_markers():
    """Whether a cell is one of the missing-value markers (compared without regard to ASCII
    case for the default markers), as a function."""
    data = SPEC["data"]
    if data["na_ignore_case"]:
        markers = {value.lower() for value in data["na_values"]}
        return lambda text: text.isascii() and text.lower() in markers
    markers = set(data["na_values"])
    return lambda text: text in markers


class File:
    """A CSV file as nnspec reads it: which columns are features (with their declarations),
    targets and ids, and the cells of those it reads: float32 numbers with NaN for a missing
    cell, or text with None for a missing cell."""

    def __init__(self, source, spec_dir):
        self.path = os.path.join(spec_dir, source["path"])
        self.header, records, self.lines = read_records(self.path)
        data = SPEC["data"]

        def find(name, role):
            if name not in self.header:
                raise DataError(f"{role} column {name!r} is not in the header of {self.path!r}")
            return self.header.index(name)

        self.targets = [find(name, "target") for name in data["targets"]]
        for name in data["ignore"]:
            find(name, "ignored")
        declared = {}
        self.ids = []
        for column in data["columns"]:
            index = find(column["name"], column["kind"])
            declared[column["name"]] = column
            if column["kind"] == "id":
                self.ids.append(index)
        if data["features"] is not None:
            self.features = [find(name, "feature") for name in data["features"]]
        else:
            self.features = [
                i for i, name in enumerate(self.header)
                if i not in self.targets and name not in data["ignore"]
                and declared.get(name, NUMBER)["kind"] not in ("id", "ignore")
            ]
        self.kinds = [declared.get(self.header[i], NUMBER) for i in self.features]
        self.rows = len(records)
        self.cells = {}
        for column, kind in zip(self.features, self.kinds):
            self.cells[column] = self.read(records, column, kind["kind"] == "number")
        for column in self.targets:
            self.cells[column] = self.read(records, column, SPEC["labels"] == "none")
        self.kept = list(range(self.rows))

    def read(self, records, column, numbers):
        """A column's cells: a number first, else missing if a marker, else an error; or text,
        missing if a marker."""
        cells, is_missing = [], missing_markers()
        for record, line in zip(records, self.lines):
            text = record[column]
            if not numbers:
                cells.append(None if is_missing(text) else text)
                continue
            value = float32_of(text)
            if value is not None and math.isfinite(value):
                cells.append(value)
            elif is_missing(text):
                cells.append(math.nan)
            else:
                what = "a finite number" if value is not None else "a number"
                raise DataError(f"{self.path}:{line}, column {column + 1} ({self.header[column]!r}): {text!r} is not {what}")
        return cells

    def missing(self, column, row):
        cell = self.cells[column][row]
        return cell is None or (isinstance(cell, float) and math.isnan(cell))


def label_number(text):
    """A label as a number, as Rust's f64 parser reads it (None when it is not one)."""
    text = text.strip()
    if not text.isascii() or "_" in text:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def sort_labels(labels):
    """Labels sorted as nnspec sorts them: by number when every one is a number, else by text."""
    numbers = [label_number(label) for label in labels]
    if all(n is not None for n in numbers):
        return [label for _, _, label in sorted((math.isnan(n), 0.0 if math.isnan(n) else n, l) for n, l in zip(numbers, labels))]
    return sorted(labels)


def class_of(labels, cell):
    """The class of a target cell: the same text, or the same number (`1.0` is `1`)."""
    if cell in labels:
        return labels.index(cell)
    number = label_number(cell)
    if number is None:
        return None
    for index, label in enumerate(labels):
        if label_number(label) == number:
            return index
    return None


def fit_target(main):
    """How target cells become targets: numbers, or class labels fitted on the training file."""
    names = [main.header[c] for c in main.targets]
    if SPEC["labels"] == "none":
        return {"kind": "values", "columns": names}
    column, classes = main.targets[0], SPEC["classes"]
    distinct = sort_labels(sorted({cell for cell in main.cells[column] if cell is not None}))
    if SPEC["labels"] == "listed":
        return {"kind": "classes", "column": names[0], "labels": SPEC["class_labels"], "indices": False}
    if SPEC["labels"] == "indices" and all(label_number(label) is not None for label in distinct):
        return {"kind": "classes", "column": names[0], "labels": [str(k) for k in range(classes)], "indices": True}
    if len(distinct) != classes:
        raise DataError(
            f"target {names[0]!r} of {main.path!r} holds {len(distinct)} distinct label(s), but the model has {classes} classes"
        )
    return {"kind": "classes", "column": names[0], "labels": distinct, "indices": False}


def keep_rows(main_file, file, target):
    """Leaves out of `file.kept` the rows with a missing cell in a `drop` column or a missing
    target; returns the targets of the rows kept."""
    drops = [c for c, kind in zip(file.features, file.kinds) if kind.get("missing") == "drop"]
    values, kept = [], []
    for row in range(file.rows):
        if any(file.missing(c, row) for c in drops):
            continue
        if target["kind"] == "values":
            cells = [file.cells[c][row] for c in file.targets]
            if any(math.isnan(v) for v in cells):
                continue
            if SPEC["loss"] == "bce" and any(not 0.0 <= v <= 1.0 for v in cells):
                raise DataError(f"`bce` targets must be in [0, 1], but {file.path}:{file.lines[row]} has {cells}")
            values.append(cells)
        else:
            cell = file.cells[file.targets[0]][row]
            if cell is None:
                continue
            index = class_of(target["labels"], cell)
            if index is None:
                raise DataError(f"{file.path}:{file.lines[row]}: {cell!r} is not one of the classes {target['labels']}")
            values.append([float(index)])
        kept.append(row)
    file.kept = kept
    return values


def number_fill(missing, constant, values):
    """The value a missing number takes, from the training rows' `values` (nnspec's fill)."""
    if missing in ("error", "drop"):
        return None
    if missing == "zeros":
        return 0.0
    if missing == "constant":
        return constant
    n = len(values)
    if n == 0:
        return 0.0
    if missing == "mean":
        return f32(sequential_sum(values) / n)
    values = sorted(values)
    if missing == "median":
        return f32(values[n // 2] if n % 2 == 1 else (values[n // 2 - 1] + values[n // 2]) / 2.0)
    best, best_count, i = values[0], 0, 0
    while i < n:
        run = 1
        while i + run < n and values[i + run] == values[i]:
            run += 1
        if run > best_count:
            best, best_count = values[i], run
        i += run
    return f32(best)


def slot(name):
    return {"name": name, "offset": 0.0, "factor": 1.0}


def fit_encoding(main, train, target):
    """nnspec's column encoding fitted on the training rows `train` (rows of `main`): fill
    values, vocabularies, binary values; its slots unscaled. Returns the encoding (the JSON
    object nnspec saves) and each slot's scaling."""
    features, scalings = [], []
    for column, kind in zip(main.features, main.kinds):
        name, cells, missing = main.header[column], main.cells[column], kind["missing"]
        feature = {"column": name}
        if kind["kind"] == "number":
            fitted = missing in ("mean", "median", "most_frequent")
            values = [cells[r] for r in train if not math.isnan(cells[r])] if fitted else []
            feature.update(kind="number", fill=number_fill(missing, kind["constant"], values))
            slots = [slot(name)]
        elif kind["kind"] == "category":
            counts = {}
            for r in train:
                if cells[r] is not None:
                    counts[cells[r]] = counts.get(cells[r], 0) + 1
            order = sorted((v for v in counts if counts[v] >= kind["min_frequency"]), key=lambda v: (-counts[v], v))
            fill = order[0] if missing == "most_frequent" and order else None
            if kind["max_categories"] is not None:
                order = order[:kind["max_categories"]]
            vocabulary = sorted(order)
            if not vocabulary and not kind["other"]:
                raise DataError(f"column {name!r} of {main.path!r}: no value of the training rows is frequent enough to be a category")
            feature.update(kind="category", vocabulary=vocabulary, other=kind["other"], fill=fill)
            slots = [slot(f"{name}={v}") for v in vocabulary] + ([slot(f"{name}=<other>")] if kind["other"] else [])
        else:
            values = sort_labels(sorted({cells[r] for r in train if cells[r] is not None}))
            if len(values) != 2:
                raise DataError(f"column {name!r} of {main.path!r}: a binary column holds two distinct values, but its training rows hold {len(values)}")
            negative, positive = values
            if kind["positive"] is not None:
                if kind["positive"] not in values:
                    raise DataError(f"column {name!r}: `positive: {kind['positive']!r}` is not one of its values {values}")
                negative, positive = (values[1], values[0]) if kind["positive"] == values[0] else (values[0], values[1])
            ones = [1.0 if cells[r] == positive else 0.0 for r in train if cells[r] is not None]
            feature.update(kind="binary", negative=negative, positive=positive, fill=number_fill(missing, kind["constant"], ones))
            slots = [slot(name)]
        value_scaling = (kind["scale"] or SPEC["scaling"]) if kind["kind"] == "number" else {"kind": "none"}
        scalings += [value_scaling] * len(slots)
        if kind["indicator"]:
            slots.append(slot(f"{name}=<missing>"))
            scalings.append({"kind": "none"})
        feature.update(missing=missing, indicator=kind["indicator"], slots=slots)
        features.append(feature)
    encoding = {
        "format": "nnspec-encoding-1",
        "features": features,
        "target": target,
        "ids": [main.header[c] for c in main.ids],
        "na_values": SPEC["data"]["na_values"],
        "na_ignore_case": SPEC["data"]["na_ignore_case"],
    }
    return encoding, scalings


def codes_of(file, encoding):
    """The kept rows of a file as the numbers the model reads (one per feature column: the
    value, a category's index in its vocabulary, a binary value's 0 or 1, -1 for a value
    outside those, NaN for a missing cell). A cell nnspec cannot encode is an error."""
    columns = []
    for feature in encoding["features"]:
        index = file.header.index(feature["column"])
        if feature["kind"] == "category":
            lookup = {value: float(i) for i, value in enumerate(feature["vocabulary"])}
        elif feature["kind"] == "binary":
            lookup = {feature["negative"]: 0.0, feature["positive"]: 1.0}
        else:
            lookup = None
        columns.append((index, lookup, feature))
    rows = []
    for row in file.kept:
        codes = []
        for index, lookup, feature in columns:
            cell = file.cells[index][row]
            if lookup is not None:
                cell = math.nan if cell is None else lookup.get(cell, -1.0)
            refused = feature["kind"] != "category" and feature["fill"] is None
            if refused and (math.isnan(cell) or (feature["kind"] == "binary" and cell < 0)):
                raise DataError(
                    f"{file.path}:{file.lines[row]}, column {index + 1} ({feature['column']!r}): the value is missing "
                    f"(declare how to fill it, e.g. `columns: [number(\"{feature['column']}\", missing: mean)]`)"
                )
            codes.append(cell)
        rows.append(codes)
    return rows


def encoding_tables(encoding):
    """The encoding as the module's buffers (`set_encoding`): per column its fill and whether
    negative codes count as missing; per slot its column and rule. Mirrors nnspec's
    export::columns::Tables."""
    tables = {name: [] for name in ("column_fill", "column_binary", "slot_column", "slot_code", "slot_value", "slot_indicator")}
    columns = []
    for index, feature in enumerate(encoding["features"]):
        kind = feature["kind"]
        if kind == "category":
            vocabulary = feature["vocabulary"]
            if feature["missing"] == "drop":
                fill = math.nan
            else:
                fill = float(vocabulary.index(feature["fill"])) if feature["fill"] in vocabulary else -2.0
            rules = [("code", float(i)) for i in range(len(vocabulary))] + ([("code", -1.0)] if feature["other"] else [])
            columns.append({"name": feature["column"], "kind": "category", "vocabulary": vocabulary})
        else:
            fill = math.nan if feature["fill"] is None else feature["fill"]
            rules = [("value", math.nan)]
            if kind == "binary":
                columns.append({"name": feature["column"], "kind": "binary", "values": [feature["negative"], feature["positive"]]})
            else:
                columns.append({"name": feature["column"], "kind": "number"})
        if feature["indicator"]:
            rules.append(("indicator", math.nan))
        tables["column_fill"].append(fill)
        tables["column_binary"].append(kind == "binary")
        for rule, code in rules:
            tables["slot_column"].append(index)
            tables["slot_code"].append(code)
            tables["slot_value"].append(rule == "value")
            tables["slot_indicator"].append(rule == "indicator")
    tables.update(columns=columns, na_values=encoding["na_values"], na_ignore_case=encoding["na_ignore_case"])
    return tables


class Prepared:
    """Every row the model reads (the main source's kept rows, then the validation and test
    files'), as raw numbers [rows, columns] and targets [rows, targets] in float32; the split;
    the encoding fitted on the training rows and each slot's scaling."""

    def __init__(self, inputs, targets, own, counts, encoding, scalings):
        self.inputs, self.targets, self.own, self.counts = inputs, targets, own, counts
        self.encoding, self.scalings = encoding, scalings
        self.train, self.validation, self.test = split_rows(targets, own, counts[0], counts[1])


def prepare(spec_dir):
    """Reads (or generates) every row, leaves out the rows nnspec leaves out, splits, and fits
    the column encoding on the training rows, as nnspec's data::load does."""
    source = SPEC["data"]
    if source["kind"] != "csv":
        inputs, targets, names = generate(source)
        encoding = numeric_encoding(names)
        scalings = [SPEC["scaling"]] * inputs.shape[1]
        return Prepared(inputs, targets, inputs.shape[0], [0, 0], encoding, scalings)
    files = [File(source, spec_dir)]
    for key in ("validation_file", "test_file"):
        if SPEC[key] is not None:
            files.append(File(SPEC[key], spec_dir))
    target = fit_target(files[0])
    targets = [keep_rows(files[0], file, target) for file in files]
    counts = [len(t) for t in targets[1:]]
    counts = [counts[0] if SPEC["validation_file"] else 0, counts[-1] if SPEC["test_file"] else 0]
    width = max(len(files[0].targets), 1)
    all_targets = torch.tensor([v for t in targets for v in t], dtype=torch.float32).reshape(-1, width)
    own = len(targets[0])
    train, _, _ = split_rows(all_targets, own, counts[0], counts[1])
    if not train:
        raise DataError(f"no training rows are left out of {own}")
    encoding, scalings = fit_encoding(files[0], [files[0].kept[r] for r in train], target)
    codes = [row for file in files for row in codes_of(file, encoding)]
    inputs = torch.tensor(codes, dtype=torch.float32).reshape(len(codes), len(encoding["features"]))
    return Prepared(inputs, all_targets, own, counts, encoding, scalings)


def numeric_encoding(names):
    """The encoding of generated rows: plain numbers, class indices for classifiers."""
    features = [
        {"column": n, "kind": "number", "fill": None, "missing": "error", "indicator": False, "slots": [slot(n)]}
        for n in names[0]
    ]
    if SPEC["classes"] is not None:
        target = {"kind": "classes", "column": names[1][0], "labels": [str(k) for k in range(SPEC["classes"])], "indices": True}
    else:
        target = {"kind": "values", "columns": names[1]}
    return {"format": "nnspec-encoding-1", "features": features, "target": target, "ids": [],
            "na_values": ["", "NA", "N/A", "NaN", "null", "?"], "na_ignore_case": True}


def generate(source):
    """nnspec's built-in generators, from the `data` stream (5) of the source's seed: inputs,
    targets and the (input, target) column names."""
    rng = ChaCha8(source["seed"], 5)
    if source["kind"] == "xor":
        rows = source["rows"]
        inputs = [rng.uniform01() * 2.0 - 1.0 for _ in range(rows * 2)]
        targets = [[1.0 if inputs[2 * r] * inputs[2 * r + 1] > 0.0 else 0.0] for r in range(rows)]
        return (
            torch.tensor(inputs, dtype=torch.float32).reshape(rows, 2),
            torch.tensor(targets, dtype=torch.float32),
            (["x0", "x1"], ["y"]),
        )
    rows, width, outputs = source["rows"], source["inputs"], source["targets"]
    inputs = [rng.uniform01() for _ in range(rows * width)]
    classes = SPEC["classes"]
    if classes is not None:
        targets = [min(math.floor(f32(rng.uniform01() * classes)), classes - 1) for _ in range(rows)]
    else:
        targets = [rng.uniform01() for _ in range(rows * outputs)]
    return (
        torch.tensor(inputs, dtype=torch.float32).reshape(rows, width),
        torch.tensor(targets, dtype=torch.float32).reshape(rows, outputs),
        ([f"x{i}" for i in range(width)], [f"y{i}" for i in range(outputs)]),
    )


def split_rows(targets, own, validation_rows, test_rows):
    """nnspec's split: per class (with `classes`) or all rows at once, each group shuffled by
    the `split` stream (4); the first round(t n) rows test, the next round(v n) validate, the
    rest train; each list sorted. Separate files give their own rows."""
    fractions = SPEC["split"]
    if SPEC["classes"] is not None:
        groups = [[] for _ in range(SPEC["classes"])]
        labels = targets[:own, 0].tolist()
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


def fit_scaling(raw, rows, scalings):
    """Each slot's scaling fitted on `rows` of the raw slots in float64 (nnspec's
    Scaler::fit_slots): mean and population std for `standardize`, min and range for `minmax`,
    the bounds of `minmax(low, high)`; a constant slot keeps factor 1."""
    width = raw.shape[1]
    offset, factor = [0.0] * width, [1.0] * width
    columns = raw[rows].t().tolist() if rows else [[] for _ in range(width)]
    for f, (values, scaling) in enumerate(zip(columns, scalings)):
        kind = scaling["kind"]
        if kind == "standardize":
            n = float(len(values))
            mean = sequential_sum(values) / n
            std = math.sqrt(sequential_sum((x - mean) * (x - mean) for x in values) / n)
            offset[f] = f32(mean)
            if std > 0.0 and math.isfinite(f32(1.0 / std)):
                factor[f] = f32(1.0 / std)
        elif kind == "minmax":
            low, high = min(values), max(values)
            offset[f] = f32(low)
            if high > low and math.isfinite(f32(1.0 / (high - low))):
                factor[f] = f32(1.0 / (high - low))
        elif kind == "range":
            offset[f] = scaling["low"]
            factor[f] = f32(1.0 / (scaling["high"] - scaling["low"]))
    return offset, factor
