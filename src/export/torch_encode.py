    def encode_rows(self, rows):
        """Rows of raw cells as the numbers `forward` takes, one per entry of `columns`: `rows`
        is a pandas DataFrame (read it with `dtype=str, keep_default_na=False` to keep the cells
        as the file has them) or dicts by column name, as `csv.DictReader` gives them. Each cell
        is read as nnspec reads it: trimmed; in a number column a number, else missing if it is
        one of `na_values`; in the others missing if it is one of `na_values`, else its code."""
        if hasattr(rows, "to_dict"):
            rows = rows.to_dict("records")
        markers = {v.lower() for v in self.na_values} if self.na_ignore_case else set(self.na_values)

        def missing(text):
            if self.na_ignore_case:
                return text.isascii() and text.lower() in markers
            return text in markers

        lookups = []
        for column in self.columns:
            values = column.get("vocabulary", column.get("values"))
            lookups.append(None if values is None else {value: float(i) for i, value in enumerate(values)})
        out = []
        for number, row in enumerate(rows, 1):
            line = []
            for column, lookup in zip(self.columns, lookups):
                cell = row[column["name"]]
                if cell is None or (isinstance(cell, float) and math.isnan(cell)):
                    line.append(math.nan)
                    continue
                text = str(cell).strip(" \t\r")
                if lookup is not None:
                    line.append(math.nan if missing(text) else lookup.get(text, -1.0))
                    continue
                value = float32_of(text)
                if value is not None and math.isfinite(value):
                    line.append(value)
                elif missing(text):
                    line.append(math.nan)
                else:
                    raise ValueError(f"row {number}, column {column['name']!r}: {text!r} is not a number")
            out.append(line)
        return torch.tensor(out, dtype=torch.float32).reshape(len(out), len(self.columns))

    @torch.no_grad()
    def set_encoding(self, encoding):
        """Sets the column encoding (what the training script fits): `encoding` holds the
        buffers' values (`column_fill`, ...) and the `columns`, `na_values`, `na_ignore_case`."""
        for name in ("column_fill", "column_binary", "slot_column", "slot_code", "slot_value", "slot_indicator"):
            buffer = getattr(self, name)
            values = torch.as_tensor(encoding[name], dtype=buffer.dtype)
            if values.shape != buffer.shape:
                raise ValueError(f"the encoding gives {name} {list(values.shape)}, the model has {list(buffer.shape)}")
            buffer.copy_(values)
        self.columns = encoding["columns"]
        self.na_values = encoding["na_values"]
        self.na_ignore_case = encoding["na_ignore_case"]
